/**
 * The chain-of-thought token suite: pointer chasing (src/tasks/pointer.ts) with the tiny transformer.
 * Pretraining and SFT: next-token cross-entropy on the completion (chain, ANS, answer, EOS) given the
 * prompt. Curation: by the model's error on each pool item (its completion loss, teacher-forced).
 * RL: G completions sampled per prompt (temperature 1), rewarded by the exact verifier (1 when the
 * answer is right and well formed), group-relative advantages, and the clipped policy-gradient loss
 * on the generated tokens (one update per batch, so the importance ratio is 1). Evaluation: greedy
 * generation on a held-out set disjoint from every training pool, scored by the verifier (accuracy
 * per k and per variant, and the overthinking metrics).
 */
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { AdvantageMode, advantages, policy_loss_backward, token_logprobs } from '../kernels/policy.ts';
import { generate } from '../models/generate.ts';
import { TransformerModel } from '../models/transformer.ts';
import {
  encodeSFT,
  makeEvalSet,
  makeValidationSet,
  makeExample,
  makePool,
  maxSequenceLength,
  PointerTaskError,
  type PointerExample,
  type PointerMetrics,
  type PointerTaskConfig,
  type PointerVariant,
  type Pool,
  pointerMetrics,
  pointerTokens,
  problemKey,
  promptLength,
  verify,
  vocabSize,
} from '../tasks/pointer.ts';
import type { StreamRng } from '../tasks/regression.ts';
import { mixtureOf, type Phase, type Plan } from './plan.ts';
import { curate } from './select.ts';
import { evaluationModel, type RolloutStats, type Selection, type Suite } from './suite.ts';

type PointerPlan = Plan & {
  task: Extract<Plan['task'], { kind: 'pointer' }>;
  model: Extract<Plan['model'], { kind: 'transformer' }>;
};

/** The most answers one evaluation generates at once (see evaluationModel). */
const EVAL_BATCH = 128;

export function pointerSuite(rt: Runtime, plan: PointerPlan): Suite {
  const cfg: PointerTaskConfig = {
    nodes: plan.task.nodes,
    maxHops: plan.task.maxHops,
    variants: plan.task.variants,
    layout: plan.task.layout,
    context: 0,
  };
  const T = maxSequenceLength(cfg);
  cfg.context = T;
  const B = plan.batch;
  const tok = pointerTokens(cfg);
  const modelConfig = {
    vocab: vocabSize(cfg),
    context: T,
    dModel: plan.model.dModel,
    layers: plan.model.layers,
    heads: plan.model.heads,
    mlp: plan.model.mlp,
    initStd: plan.model.initStd,
  };
  const model = new TransformerModel(rt, modelConfig, { B, T }, plan.seed);
  // Evaluation generates its answers with a copy of batch up to EVAL_BATCH: the same greedy answers,
  // and on SwiftShader a batch of 128 costs about 2.5x fewer milliseconds per answer than 8 of 16.
  const wide = evaluationModel(
    rt,
    model,
    B,
    plan.eval,
    EVAL_BATCH,
    (batch) => new TransformerModel(rt, modelConfig, { B: batch, T }, plan.seed),
  );
  const N = B * T;
  const t = {
    actions: rt.empty([N], 'u32', 'rl.actions'),
    mask: rt.empty([N], 'f32', 'rl.mask'),
    adv: rt.empty([N], 'f32', 'rl.adv'),
    oldLogp: rt.empty([N], 'f32', 'rl.old_logp'),
    entropy: rt.empty([N], 'f32', 'rl.entropy'),
    losses: rt.empty([N], 'f32', 'rl.losses'),
    clipped: rt.empty([N], 'f32', 'rl.clipped'),
    rewards: rt.empty([B], 'f32', 'rl.rewards'),
    groupAdv: rt.empty([B], 'f32', 'rl.group_adv'),
    flat: rt.empty([B], 'f32', 'rl.flat'),
  };
  const mixOf = (phase: Phase | undefined, m: Record<string, number> | undefined) => ({
    variants: mixtureOf(plan.task, m) as Partial<Record<PointerVariant, number>>,
    hops: phase?.hops
      ? Object.fromEntries(Array.from({ length: phase.hops[1] - phase.hops[0] + 1 }, (_, i) => [phase.hops![0] + i, 1]))
      : undefined,
  });
  const pools = new Map<number, Pool>();
  const evalSet = makeEvalSet(plan.seed, cfg, mixOf(undefined, plan.eval.mixture), plan.eval.size);
  const valSet =
    plan.eval.validation > 0
      ? makeValidationSet(plan.seed, cfg, mixOf(undefined, plan.eval.mixture), plan.eval.validation, evalSet)
      : undefined;
  /** Problems of the test and validation sets: training never draws them (fresh streams and pools). */
  const heldOut = new Set([...evalSet.items, ...(valSet?.items ?? [])].map(problemKey));
  let lastReward = 0;
  let lastRollout: RolloutStats = { length: 0, excess: 0 };

  /** A fresh example for a phase: variant by its mixture, k uniform over its hop range. */
  function fresh(phase: Phase, rng: StreamRng): PointerExample {
    const weights = mixtureOf(plan.task, phase.mixture);
    const names = Object.keys(weights);
    const total = names.reduce((s, k) => s + weights[k], 0);
    let u = rng.next() * total;
    let variant = names[names.length - 1];
    for (const k of names) {
      u -= weights[k];
      if (u < 0) {
        variant = k;
        break;
      }
    }
    const [lo, hi] = phase.hops ?? [1, cfg.maxHops];
    // A problem of the held-out sets is redrawn (the same draw order each time: deterministic).
    for (let tries = 0; tries < 1000; tries++) {
      const ex = makeExample(rng, cfg, variant as PointerVariant, lo + rng.int(hi - lo + 1));
      if (!heldOut.has(problemKey(ex))) return ex;
    }
    throw new PointerTaskError(
      'eval.size',
      `phase ${phase.name}: 1000 training draws in a row were held-out problems; the held-out sets (eval.size, eval.validation) cover too much of this task's problem space`,
    );
  }

  function draw(phase: Phase, index: number, rng: StreamRng, count: number, ids: number[] | undefined): PointerExample[] {
    const pool = pools.get(index);
    if (pool && ids) return Array.from({ length: count }, () => pool.items[ids[rng.int(ids.length)]]);
    return Array.from({ length: count }, () => fresh(phase, rng));
  }

  /** Upload examples for teacher-forced training (a partial batch repeats its first example, with mask 0). */
  function upload(examples: PointerExample[]): void {
    const padded = Array.from({ length: B }, (_, b) => examples[Math.min(b, examples.length - 1)]);
    const { tokens, targets, mask } = encodeSFT(padded, T);
    for (let b = examples.length; b < B; b++) mask.fill(0, b * T, (b + 1) * T);
    model.setBatch(tokens, targets, mask);
  }

  /** Per-example completion loss (teacher-forced): the model's error on each item. */
  async function completionLoss(items: PointerExample[]): Promise<Float64Array> {
    const out = new Float64Array(items.length);
    for (let start = 0; start < items.length; start += B) {
      const chunk = items.slice(start, start + B);
      upload(chunk);
      rt.batch('completion loss', () => model.forward());
      const losses = await rt.readF32(model.losses);
      for (let b = 0; b < chunk.length; b++) {
        let s = 0;
        for (let i = 0; i < T; i++) s += losses[b * T + i];
        out[start + b] = s;
      }
    }
    return out;
  }

  /** 1 - the pass rate of each item over `samples` answers sampled at temperature 1 (its difficulty). */
  async function failRate(items: PointerExample[], samples: number, index: number): Promise<Float64Array> {
    const out = new Float64Array(items.length);
    const per = B / samples;
    for (let start = 0; start < items.length; start += per) {
      const chunk = items.slice(start, start + per);
      const batch = Array.from({ length: chunk.length * samples }, (_, i) => chunk[Math.floor(i / samples)]);
      const outs = await generate(
        rt,
        model,
        batch.map((e) => e.prompt),
        {
          maxNew: T - promptLength(cfg),
          temperature: 1,
          seed: plan.seed,
          step: 1_000_000 + index * 100_000 + start,
          eos: tok.EOS,
          pad: tok.PAD,
        },
      );
      for (const [c, e] of chunk.entries()) {
        let pass = 0;
        for (let g = 0; g < samples; g++) if (verify(cfg, e, outs[c * samples + g]).correct) pass++;
        out[start + c] = 1 - pass / samples;
      }
    }
    return out;
  }

  const ids = new Map<number, number[]>();

  return {
    params: model.params,
    grads: model.grads,
    get bytes() {
      return model.bytes + wide.bytes;
    },

    async prepare(phase, index, kept, onSelect: (s: Selection) => void, memo) {
      if (phase.pool === undefined || phase.select === undefined) return undefined;
      const held: Pool = { seed: plan.seed, kind: 'eval', items: [...evalSet.items, ...(valSet?.items ?? [])] };
      const pool = makePool(plan.seed * 1000 + index + 1, cfg, mixOf(phase, phase.mixture), phase.pool, held);
      pools.set(index, pool);
      const { select } = phase;
      const chosen = await curate(
        select,
        phase.pool,
        index,
        plan.seed,
        kept,
        () => (select.by === 'pass-rate' ? failRate(pool.items, select.samples, index) : completionLoss(pool.items)),
        onSelect,
        memo,
      );
      ids.set(index, chosen);
      return chosen;
    },

    async step(phase, index, rng, globalStep, record, update) {
      if (phase.kind !== 'rl') {
        upload(draw(phase, index, rng, B, ids.get(index)));
        rt.batch(`${phase.name} step`, () => {
          model.forwardBackward();
          record();
          update();
        });
        return;
      }
      // Rollouts: G samples for each of B / G prompts, rewarded by the verifier.
      const G = phase.group;
      const P = B / G;
      const prompts = draw(phase, index, rng, P, ids.get(index));
      const batch = Array.from({ length: B }, (_, b) => prompts[Math.floor(b / G)]);
      const completions = await generate(
        rt,
        model,
        batch.map((e) => e.prompt),
        { maxNew: T - promptLength(cfg), temperature: 1, seed: plan.seed, step: globalStep, eos: tok.EOS, pad: tok.PAD },
      );
      const checked = batch.map((e, b) => verify(cfg, e, completions[b]));
      const rewards: number[] = checked.map((r) => (r.correct ? 1 : 0));
      lastReward = rewards.reduce((s, r) => s + r, 0) / B;
      lastRollout = {
        length: completions.reduce((s, c) => s + c.length, 0) / B,
        excess: checked.reduce((s, r) => s + r.excess, 0) / B,
      };
      rt.write(t.rewards, rewards);
      advantages(rt, rt.view(t.groupAdv, 0, [P, G]), rt.view(t.flat, 0, [P]), rt.view(t.rewards, 0, [P, G]), undefined, {
        mode: AdvantageMode.GRPO,
      });
      const groupAdv = await rt.readF32(t.groupAdv);
      // The sequences as sampled; the loss covers the generated tokens (their targets), each with its
      // sequence's advantage.
      const tokens = new Uint32Array(N).fill(tok.PAD);
      const targets = new Uint32Array(N).fill(tok.PAD);
      const mask = new Float32Array(N);
      const adv = new Float32Array(N);
      const L = promptLength(cfg);
      for (let b = 0; b < B; b++) {
        const seq = [...batch[b].prompt, ...completions[b]].slice(0, T);
        for (let i = 0; i < seq.length; i++) tokens[b * T + i] = seq[i];
        for (let i = 0; i + 1 < seq.length; i++) {
          targets[b * T + i] = seq[i + 1];
          if (i + 1 >= L) {
            mask[b * T + i] = 1;
            adv[b * T + i] = groupAdv[b];
          }
        }
      }
      model.setBatch(tokens, targets, mask);
      rt.write(t.actions, targets);
      rt.write(t.mask, mask);
      rt.write(t.adv, adv);
      rt.batch(`${phase.name} step`, () => {
        model.forward();
        // One update per batch of rollouts: the sampling policy is the current one (ratio 1).
        token_logprobs(rt, t.oldLogp, t.entropy, model.logits, t.actions, t.mask);
        policy_loss_backward(
          rt,
          model.dlogits,
          t.losses,
          t.clipped,
          model.logits,
          t.actions,
          t.mask,
          t.adv,
          t.oldLogp,
          undefined,
          {},
        );
        model.backward(model.dlogits);
        record();
        update();
      });
    },

    rollout: () => lastRollout,

    async readValue(phase) {
      if (phase.kind === 'rl') return lastReward;
      return (await rt.readF32(model.loss))[0];
    },

    async evaluate(split = 'test'): Promise<PointerMetrics> {
      const set = split === 'validation' ? valSet : evalSet;
      if (!set) throw new Error('evaluate: this plan has no validation split (eval.validation is 0)');
      const results = [];
      const m = wide.current().model;
      for (let start = 0; start < set.items.length; start += m.B) {
        const chunk = set.items.slice(start, start + m.B);
        const out = await generate(
          rt,
          m,
          chunk.map((e) => e.prompt),
          { maxNew: T - promptLength(cfg), temperature: 0, seed: plan.seed, step: 0, eos: tok.EOS, pad: tok.PAD },
        );
        for (const [i, e] of chunk.entries()) results.push(verify(cfg, e, out[i]));
      }
      return pointerMetrics(results);
    },

    destroy() {
      model.destroy();
      wide.destroy();
      for (const x of Object.values(t) as Tensor[]) x.destroy();
    },
  };
}
