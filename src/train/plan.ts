/**
 * A run is described by a plan: task suite, model, seed, evaluation, and an ordered list of phases.
 * Every default is declared once here, with its reason; a phase or an experiment is a small override.
 * Plans are validated before anything runs: each invalid field gets a message that names it (its
 * path in the plan) and what would be valid.
 *
 * Two task suites: in-context weight prediction (LSA models; regression loss for pretraining and
 * SFT, RL with a Gaussian policy and an outcome-only reward) and pointer chasing (the tiny
 * transformer; completion cross-entropy, RL with sampled completions rewarded by the verifier).
 * Batch size and evaluation cadence are the plan's unless a phase sets its own.
 */
import { z } from 'zod';
import { UserError } from '../device/errors.ts';
import { POINTER_LAYOUTS, POINTER_VARIANTS } from '../tasks/pointer.ts';

/** Which parameters weight decay applies to: tensors of two or more dimensions, or every one. */
export const DECAY_PARAMS = ['matrices', 'all'] as const;
export type DecayParams = (typeof DECAY_PARAMS)[number];

/** A mixture: non-negative weights over the task's domains (normalised when sampling). */
const mixture = z.record(z.string(), z.number().min(0, 'mixture weights must be >= 0'));

/** Difficulty bands by name: thirds of the pool ordered by the current model's error. */
export const NAMED_BANDS: Record<'easy' | 'medium' | 'hard', [number, number]> = {
  easy: [0, 1 / 3],
  medium: [1 / 3, 2 / 3],
  hard: [2 / 3, 1],
};

const positiveInt = (max: number) => z.number().int('must be an integer').min(1, 'must be >= 1').max(max, `must be <= ${max}`);

export const regressionTaskSchema = z
  .object({
    kind: z.literal('regression'),
    /** Dimension of x and w. 8: small enough for a CPU adapter, large enough for rare directions. */
    d: positiveInt(256).default(8),
    /** Pairs per prompt. 32 = 4d: enough context to estimate w well. */
    n: positiveInt(1024).default(32),
    /** Label noise std. 0.1: the Bayes-optimal error stays well above zero but small. */
    noise: z.number().min(0).max(10).default(0.1),
    /** Domains: 'head-tail' splits the directions into a head (the first `head`) and a tail. */
    domains: z.enum(['head-tail', 'balanced']).default('head-tail'),
    /** Directions in the head domain. 4 of 8: the paper's "some directions rare" setting. */
    head: positiveInt(256).default(4),
    /** Variance of the off-domain directions (0: a domain only ever uses its own directions). */
    rest: z.number().min(0).max(1).default(0),
    /**
     * Rotate the domains' directions by a random orthogonal basis fixed by the plan's seed. Off by
     * default (direction j = coordinate j, easy to read); on for experiments, because Adam's
     * per-coordinate scaling partly equalises rare and common directions when they lie on the axes.
     */
    rotate: z.boolean().default(false),
    /**
     * An answer passes when ||ŵ - w||² < tau: the verifier of RL's 'pass' reward, of 'pass-rate'
     * curation and of the pass-rate metric. 1: about the moment estimator's error at n = 4d with
     * ||w||² = 4, so a pretrained model passes some prompts and fails others.
     */
    tau: z.number().positive('must be > 0').max(1e6).default(1),
  })
  .strict()
  .refine((t) => t.domains !== 'head-tail' || t.head < t.d, { message: 'head must be smaller than d', path: ['head'] });

export const pointerTaskSchema = z
  .object({
    kind: z.literal('pointer'),
    /** Nodes of the permutation. 8: prompts of 28 tokens, sequences of at most 37. */
    nodes: positiveInt(64).default(8),
    /** Largest hop count k (the difficulty). */
    maxHops: positiveInt(63).default(6),
    /** The task variants (the domains). */
    variants: z
      .array(z.enum(POINTER_VARIANTS))
      .min(1)
      .default([...POINTER_VARIANTS]),
    /** How the prompt writes π: 'pairs' (shuffled (i, π(i)) pairs: a lookup by content) or 'table' (π(0)..π(P-1): a lookup by position). */
    layout: z.enum(POINTER_LAYOUTS).default('pairs'),
  })
  .strict()
  .refine((t) => t.maxHops < t.nodes, {
    message: 'maxHops must be smaller than nodes (k is written as a node token)',
    path: ['maxHops'],
  });

const lsaModelSchema = z
  .object({
    /** The LSA forms of the theory (merged Γ, or factorised P·Q where a capability can stay latent). */
    kind: z.enum(['lsa-merged', 'lsa-factorised']).default('lsa-factorised'),
    /** Hidden width of the factorised form (default d). */
    k: positiveInt(4096).optional(),
    /** Initial weight std. Small, so pretraining starts from nearly nothing. */
    initStd: z.number().positive().max(10).default(0.02),
  })
  .strict();

/** A transformer's shape, with its defaults; heads must divide dModel. */
function transformerSchema<K extends string>(kind: K, defaults: { dModel: number; layers: number; heads: number }) {
  return z
    .object({
      kind: z.literal(kind),
      dModel: positiveInt(4096).default(defaults.dModel),
      layers: positiveInt(64).default(defaults.layers),
      heads: positiveInt(64).default(defaults.heads),
      /** MLP hidden width (default 4 dModel). */
      mlp: positiveInt(16384).optional(),
      /** Standard deviation of the initial weights (default 0.02, GPT-2's; about 1/sqrt(dModel) learns far faster at small widths). */
      initStd: z.number().positive().max(10).optional(),
    })
    .strict()
    .refine((m) => m.dModel % m.heads === 0, { message: 'heads must divide dModel', path: ['heads'] });
}

/** The tiny decoder-only transformer, for the token task. The defaults are the 'tiny' preset. */
const transformerModelSchema = transformerSchema('transformer', { dModel: 64, layers: 2, heads: 4 });

/**
 * The softmax-attention transformer for in-context weight prediction (the nonlinear case): the pairs
 * as tokens [x_i, y_i], non-causal blocks, mean over tokens, a linear head to ŵ. Width 32, 2 layers,
 * 2 heads: about 25k parameters; a step of 16 prompts takes about 0.2 s on a 2-core CPU adapter.
 */
const iclTransformerModelSchema = transformerSchema('icl-transformer', { dModel: 32, layers: 2, heads: 2 });

/**
 * A union's error that says what is wrong: required, not an object, an unknown kind (listing the
 * valid ones), or, when the kind is known, the first problem with that kind's fields (zod's own
 * message for a failed union is only "Invalid input").
 */
function unionError(what: string, kinds: readonly string[]) {
  const valid = kinds.map((k) => `"${k}"`).join(', ');
  return (iss: { code?: string; input?: unknown; errors?: { path: PropertyKey[]; message: string }[][] }) => {
    if (iss.code !== 'invalid_union') return undefined;
    const input = iss.input;
    if (input === undefined) return `required: ${what}, with "kind" one of ${valid}`;
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      return `must be ${what} (an object with "kind" one of ${valid})`;
    const kind = (input as { kind?: unknown }).kind;
    if (kind !== undefined && !kinds.includes(kind as string))
      return `unknown kind ${JSON.stringify(kind)}; valid kinds: ${valid}`;
    // The branch that accepted the kind (no issue about "kind") and its first problem.
    const branch = (iss.errors ?? [])
      .filter((errs) => !errs.some((e) => e.path[0] === 'kind'))
      .sort((a, b) => a.length - b.length)[0];
    const first = branch?.[0];
    if (!first) return `invalid ${what}`;
    return `${first.path.map(String).join('.') || '(value)'}: ${first.message}`;
  };
}

export const modelSchema = z.union([lsaModelSchema, transformerModelSchema, iclTransformerModelSchema], {
  error: unionError('a model', ['lsa-merged', 'lsa-factorised', 'transformer', 'icl-transformer']),
});

const lrSchedule = z
  .object({
    kind: z.enum(['constant', 'cosine']).default('cosine'),
    /** Steps of linear warm-up from 0. */
    warmup: z.number().int().min(0).default(0),
    /** Final learning rate as a fraction of the peak (cosine). */
    floor: z.number().min(0).max(1).default(0.1),
  })
  .strict();

const selection = z
  .object({
    /** hardest / easiest / random m of the pool, or those whose score lies in a band of quantiles. */
    rule: z.enum(['hardest', 'easiest', 'random', 'band']),
    m: positiveInt(1_000_000),
    /**
     * The difficulty score: the current model's error ('loss'; regression: ||ŵ - w||², tokens: the
     * completion loss), or 1 - its pass rate on the verifier over `samples` sampled answers
     * ('pass-rate': the paper's easy / medium / too hard; regression samples ŵ + sigma·ξ with the
     * phase's sigma and passes below task.tau, tokens sample at temperature 1).
     */
    by: z.enum(['loss', 'pass-rate']).default('loss'),
    samples: positiveInt(1024).default(8),
    /**
     * Quantiles [lo, hi) of the pool's difficulty (the current model's error) for rule 'band', or a
     * named third: 'easy' [0, 1/3), 'medium' [1/3, 2/3), 'hard' [2/3, 1].
     */
    band: z
      .union([z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]), z.enum(['easy', 'medium', 'hard'])])
      .optional()
      .transform((b): [number, number] | undefined => (typeof b === 'string' ? NAMED_BANDS[b] : b)),
  })
  .strict()
  .refine((s) => s.rule !== 'band' || (s.band !== undefined && s.band[0] < s.band[1]), {
    message: "rule 'band' needs band: [lo, hi] with 0 <= lo < hi <= 1, or 'easy', 'medium' or 'hard'",
    path: ['band'],
  });

export const phaseSchema = z
  .object({
    name: z.string().min(1),
    kind: z.enum(['pretrain', 'sft', 'rl']),
    /** Domain weights of the data this phase draws (default: every domain of the task equally). */
    mixture: mixture.optional(),
    /** Token task: the range [lo, hi] of hop counts this phase draws (default 1 to maxHops). */
    hops: z.tuple([positiveInt(63), positiveInt(63)]).optional(),
    /** A finite candidate pool (curation): sample `pool` examples, then select by rule. */
    pool: positiveInt(10_000_000).optional(),
    select: selection.optional(),
    steps: positiveInt(10_000_000),
    /** Examples per step in this phase (RL: prompts x group); default: the plan's batch. */
    batch: positiveInt(65_536).optional(),
    /** Evaluate every this many steps in this phase (and at its end); default: the plan's eval.every. */
    evalEvery: positiveInt(10_000_000).optional(),
    /** Peak learning rate (AdamW). */
    lr: z.number().positive('must be > 0').max(10, 'must be <= 10 (larger is not a learning rate)'),
    schedule: lrSchedule.default({ kind: 'cosine', warmup: 0, floor: 0.1 }),
    weightDecay: z.number().min(0).max(1).default(0),
    /**
     * What weight decay applies to: 'matrices' (tensors of two or more dimensions: weights and
     * embeddings; biases and layernorm parameters are not decayed, as in GPT-2) or 'all'.
     */
    decayParams: z.enum(DECAY_PARAMS).default('matrices'),
    /**
     * The parameter tensors this phase trains, by name (default: all of them); the others stay as
     * they are. E.g. ["head"] fine-tunes the output layer alone: an output-only probe of what
     * pretraining built. Names are checked against the model when the run starts.
     */
    train: z.array(z.string().min(1)).min(1, 'name at least one parameter (leave train out to train all)').optional(),
    /** Clip the global gradient norm to this (0: no clipping). */
    maxNorm: z.number().min(0).default(1),
    /** RL only: samples per prompt (the batch holds batch / group prompts) and the Gaussian policy's std. */
    group: z.number().int().min(2, 'the RL group size must be >= 2').max(1024).default(8),
    sigma: z.number().positive().max(100).default(0.3),
    /**
     * RL reward for regression: 'error' = -||answer - w||² (dense), or 'pass' = 1 when
     * ||answer - w||² < task.tau, else 0 (binary, a verifier as in the token task, where every
     * prompt in a group failing gives no signal). The token task's reward is always 'pass'.
     */
    reward: z.enum(['error', 'pass']).optional(),
  })
  .strict()
  .refine((p) => (p.select === undefined) === (p.pool === undefined), {
    message: 'pool and select go together: a candidate pool needs a selection rule and a rule needs a pool',
    path: ['select'],
  })
  .refine((p) => p.select === undefined || p.pool === undefined || p.select.m <= p.pool, {
    message: 'select.m must not exceed the pool size',
    path: ['select', 'm'],
  });

export const planSchema = z
  .object({
    name: z.string().min(1).default('plan'),
    /** The run's seed: data, initial weights, RL noise. */
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(1),
    task: z.union([regressionTaskSchema, pointerTaskSchema], { error: unionError('a task suite', ['regression', 'pointer']) }),
    model: modelSchema.default({ kind: 'lsa-factorised', initStd: 0.02 }),
    /** Examples per step (RL: prompts x group) in every phase that does not set its own. 64: a stable gradient on 2 CPU cores. */
    batch: positiveInt(65_536).default(64),
    eval: z
      .object({
        /** Held-out prompts (disjoint from every training pool). */
        size: positiveInt(1_000_000).default(512),
        /**
         * A validation split of this many prompts (0: none), drawn from its own stream and evaluated
         * at the end of each phase beside the test set: experiments choose learning rates on it, never
         * on the test set.
         */
        validation: z.number().int().min(0).max(1_000_000).default(0),
        /** Evaluate every this many steps, and at the end of each phase. */
        every: positiveInt(10_000_000).default(50),
        mixture: mixture.optional(),
      })
      .strict()
      .default({ size: 512, every: 50, validation: 0 }),
    phases: z.array(phaseSchema).min(1, 'a plan needs at least one phase'),
    /**
     * What the run does when NaN/Inf shows up (gradients counted on the GPU every step; gradients,
     * parameters and the loss checked at each loss readback and before each checkpoint): 'stop' with
     * an error naming the phase, the step and the tensors; or 'rollback' to the last checked state
     * (a copy kept on the GPU at each passed check), multiply the rest of the phase's learning rate
     * by lrFactor and go on, at most `retries` times per phase, then stop. 'stop' by default: an
     * experiment's learning rate is never changed behind its back.
     */
    onNonFinite: z
      .object({
        action: z.enum(['stop', 'rollback']).default('stop'),
        lrFactor: z.number().gt(0, 'must be > 0').lt(1, 'must be < 1 (a smaller step)').default(0.5),
        retries: positiveInt(100).default(3),
      })
      .strict()
      .default({ action: 'stop', lrFactor: 0.5, retries: 3 }),
  })
  .strict()
  .superRefine((plan, ctx) => {
    const tokens = plan.task.kind === 'pointer';
    if (tokens !== (plan.model.kind === 'transformer')) {
      ctx.addIssue({
        code: 'custom',
        path: ['model', 'kind'],
        message: tokens
          ? "the pointer task needs model kind 'transformer'"
          : "the regression task needs model kind 'lsa-merged', 'lsa-factorised' or 'icl-transformer'",
      });
    }
    plan.phases.forEach((p, i) => {
      if (p.reward === 'error' && plan.task.kind === 'pointer') {
        ctx.addIssue({
          code: 'custom',
          path: ['phases', i, 'reward'],
          message: "the token task's reward is its verifier: 'pass' (or leave reward out)",
        });
      }
      const batch = p.batch ?? plan.batch;
      if (p.select?.by === 'pass-rate' && plan.task.kind === 'pointer' && batch % p.select.samples !== 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['phases', i, 'select', 'samples'],
          message: `must divide the phase's batch (${batch})`,
        });
      }
      if (p.hops && (plan.task.kind !== 'pointer' || p.hops[0] > p.hops[1] || p.hops[1] > plan.task.maxHops)) {
        ctx.addIssue({
          code: 'custom',
          path: ['phases', i, 'hops'],
          message: 'hops is [lo, hi] with 1 <= lo <= hi <= task.maxHops (pointer task only)',
        });
      }
      if (p.kind === 'rl' && batch % p.group !== 0) {
        ctx.addIssue({ code: 'custom', path: ['phases', i, 'group'], message: `must divide the phase's batch (${batch})` });
      }
    });
  });

export type Plan = z.infer<typeof planSchema>;
export type Phase = z.infer<typeof phaseSchema>;
export type PlanInput = z.input<typeof planSchema>;

/** A plan that does not validate; the message lists every invalid field by its path. */
export class PlanError extends UserError {
  override name = 'PlanError';
  constructor(readonly issues: { path: string; message: string }[]) {
    super(`invalid plan:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
  }
}

function pathOf(path: readonly PropertyKey[]): string {
  return (
    path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('')
      .replace(/^\./, '') || '(plan)'
  );
}

/** Validate a plan (parsed JSON or an object) and fill in every default. */
export function parsePlan(raw: unknown): Plan {
  const r = planSchema.safeParse(raw);
  if (r.success) {
    checkMixtures(r.data);
    return r.data;
  }
  throw new PlanError(r.error.issues.map((i) => ({ path: pathOf(i.path), message: i.message })));
}

/** The domain names a task offers. */
export function domainNames(task: Plan['task']): string[] {
  if (task.kind === 'pointer') return [...task.variants];
  return task.domains === 'balanced' ? ['all'] : ['head', 'tail'];
}

/** A mixture as given, or every domain of the task with the same weight. */
export function mixtureOf(task: Plan['task'], m: Record<string, number> | undefined): Record<string, number> {
  return m ?? Object.fromEntries(domainNames(task).map((d) => [d, 1]));
}

function checkMixtures(plan: Plan): void {
  const names = domainNames(plan.task);
  const issues: { path: string; message: string }[] = [];
  const check = (m: Record<string, number>, path: string) => {
    for (const k of Object.keys(m)) {
      if (!names.includes(k))
        issues.push({ path: `${path}.${k}`, message: `unknown domain; this task's domains are ${names.join(', ')}` });
    }
    if (Object.values(m).every((v) => v === 0)) issues.push({ path, message: 'the weights must not all be 0' });
  };
  if (plan.eval.mixture) check(plan.eval.mixture, 'eval.mixture');
  for (const [i, p] of plan.phases.entries()) if (p.mixture) check(p.mixture, `phases[${i}].mixture`);
  if (issues.length) throw new PlanError(issues);
}

/**
 * The default plan: pretraining on a balanced mixture, SFT on a small hard set of tail prompts,
 * then RL on a larger set at medium difficulty (the recipe the paper argues for). Small enough to
 * run in about a minute on a 2-core machine without a GPU.
 */
export const defaultPlan: PlanInput = {
  name: 'recipe',
  seed: 1,
  task: { kind: 'regression', d: 8, n: 32, noise: 0.1, domains: 'head-tail', head: 4 },
  model: { kind: 'lsa-factorised', initStd: 0.02 },
  eval: { size: 512, every: 100, mixture: { head: 0.5, tail: 0.5 } },
  phases: [
    { name: 'pretrain', kind: 'pretrain', mixture: { head: 0.5, tail: 0.5 }, steps: 300, lr: 0.01 },
    { name: 'sft', kind: 'sft', mixture: { tail: 1 }, pool: 2048, select: { rule: 'hardest', m: 64 }, steps: 100, lr: 0.003 },
    {
      name: 'rl',
      kind: 'rl',
      mixture: { head: 0.5, tail: 0.5 },
      pool: 4096,
      select: { rule: 'band', m: 1024, band: 'medium' },
      steps: 100,
      lr: 0.003,
    },
  ],
};
