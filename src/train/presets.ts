/**
 * Ready-made plans for the demo page (and anyone else): the paper's recipe and the alternatives it is
 * compared with, a tiny plan that goes through all three phases in seconds, and the token task's
 * recipe. Each alternative is the recipe with one thing changed, so a comparison isolates it.
 * Also the model choices the page offers per task.
 */
import pointerRecipe from '../../plans/pointer-recipe.json';
import { defaultPlan, type PlanInput } from './plan.ts';

export interface PlanPreset {
  id: string;
  title: string;
  /** What it tests, in a sentence. */
  about: string;
  plan: PlanInput;
}

type PhaseInput = PlanInput['phases'][number];

/** The recipe with the phase of kind `kind` changed by `patch` (and a new name). */
function variant(name: string, kind: PhaseInput['kind'], patch: Partial<PhaseInput>): PlanInput {
  return {
    ...structuredClone(defaultPlan),
    name,
    phases: defaultPlan.phases.map((p) => (p.kind === kind ? { ...structuredClone(p), ...patch } : structuredClone(p))),
  } as PlanInput;
}

const recipeSelect = (kind: 'sft' | 'rl') => defaultPlan.phases.find((p) => p.kind === kind)?.select;

export const PLAN_PRESETS: PlanPreset[] = [
  {
    id: 'tiny',
    title: 'Tiny: all three phases in seconds',
    about: 'A small regression model (d = 4) through pretraining, hard SFT and medium RL: a quick look at the page.',
    plan: {
      name: 'tiny',
      seed: 1,
      task: { kind: 'regression', d: 4, n: 16, noise: 0.1, domains: 'head-tail', head: 2 },
      model: { kind: 'lsa-factorised', initStd: 0.05 },
      batch: 32,
      eval: { size: 128, every: 25, mixture: { head: 0.5, tail: 0.5 } },
      phases: [
        { name: 'pretrain', kind: 'pretrain', mixture: { head: 0.5, tail: 0.5 }, steps: 150, lr: 0.02 },
        { name: 'sft', kind: 'sft', mixture: { tail: 1 }, pool: 256, select: { rule: 'hardest', m: 16 }, steps: 40, lr: 0.005 },
        {
          name: 'rl',
          kind: 'rl',
          pool: 256,
          select: { rule: 'band', m: 64, band: 'medium' },
          steps: 40,
          lr: 0.005,
          group: 8,
        },
      ],
    },
  },
  {
    id: 'recipe',
    title: 'The recipe',
    about: 'Balanced pretraining, then SFT on a small hard set of tail prompts, then RL on a larger set of medium difficulty.',
    plan: defaultPlan,
  },
  {
    id: 'large-random-sft',
    title: 'Alternative: large random SFT',
    about: 'The recipe with SFT on 1024 random prompts instead of 64 hard ones.',
    plan: variant('large-random-sft', 'sft', { select: { ...recipeSelect('sft'), rule: 'random', m: 1024 } }),
  },
  {
    id: 'small-rl',
    title: 'Alternative: small RL',
    about: 'The recipe with RL on 16 prompts instead of 1024.',
    plan: variant('small-rl', 'rl', { select: { ...recipeSelect('rl'), rule: 'band', band: 'medium', m: 16 } }),
  },
  {
    id: 'too-hard-rl',
    title: 'Alternative: too-hard RL',
    about: 'The recipe with RL on the hardest third of the pool instead of the middle third.',
    plan: variant('too-hard-rl', 'rl', { select: { ...recipeSelect('rl'), rule: 'band', band: 'hard', m: 1024 } }),
  },
  {
    id: 'imbalanced',
    title: 'Alternative: imbalanced pretraining',
    about: 'The recipe with pretraining that almost never sees the tail directions (95% head).',
    plan: variant('imbalanced', 'pretrain', { mixture: { head: 0.95, tail: 0.05 } }),
  },
  {
    id: 'pointer-recipe',
    title: 'Token task: the recipe (slow without a GPU)',
    about:
      'Pointer chasing with a chain of thought, forward and inverse (the target), and a width-32 transformer: balanced pretraining, SFT on the 64 hardest inverse problems, RL on medium ones. About 5 minutes on a 2-core CPU adapter.',
    plan: pointerRecipe as PlanInput,
  },
];

export function findPreset(id: string): PlanPreset {
  const p = PLAN_PRESETS.find((x) => x.id === id);
  if (!p) throw new Error(`unknown plan preset '${id}'; presets: ${PLAN_PRESETS.map((x) => x.id).join(', ')}`);
  return p;
}

/** The models the page offers for each task (a plan's `model` field). */
export const MODEL_CHOICES: Record<'regression' | 'pointer', { id: string; title: string; model: PlanInput['model'] }[]> = {
  regression: [
    {
      id: 'lsa-factorised',
      title: 'LSA, factorised P·Q (capability can stay latent)',
      model: { kind: 'lsa-factorised', initStd: 0.02 },
    },
    { id: 'lsa-merged', title: 'LSA, merged Γ (the theory’s form)', model: { kind: 'lsa-merged', initStd: 0.02 } },
    {
      id: 'icl-transformer',
      title: 'Softmax transformer (width 32, 2 layers)',
      model: { kind: 'icl-transformer', dModel: 32, layers: 2, heads: 2 },
    },
  ],
  pointer: [
    {
      id: 'tiny',
      title: 'Tiny transformer (width 64, 2 layers, 4 heads)',
      model: { kind: 'transformer', dModel: 64, layers: 2, heads: 4 },
    },
    {
      id: 'small',
      title: 'Small transformer (width 128, 4 layers; a real GPU)',
      model: { kind: 'transformer', dModel: 128, layers: 4, heads: 4 },
    },
  ],
};
