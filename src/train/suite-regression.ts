/**
 * The in-context weight prediction suite: an LSA model, data from covariance-spectrum domains,
 * curation by the model's error, the regression loss, and RL with a Gaussian policy around the
 * prediction and an outcome-only reward (minus the squared error of the sampled answer).
 */
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { scale, threshold } from '../kernels/elementwise.ts';
import { AdvantageMode, advantages } from '../kernels/policy.ts';
import { sum } from '../kernels/reduce.ts';
import { mse_loss } from '../kernels/regression.ts';
import { gaussian_reinforce_backward, gaussian_sample } from '../kernels/sampling.ts';
import { IclTransformerModel } from '../models/icl-transformer.ts';
import { LsaModel } from '../models/lsa.ts';
import {
  balancedDomains,
  exampleErrors,
  headTailDomains,
  makeEvalSet,
  makeValidationSet,
  makePool,
  poolBatch,
  type RegressionBatch,
  type RegressionMetrics,
  type RegressionPool,
  type RegressionTaskConfig,
  regressionMetrics,
  passRates,
  randomBasis,
  StreamRng,
  sampleBatch,
} from '../tasks/regression.ts';
import { mixtureOf, type Phase, type Plan } from './plan.ts';
import { curate } from './select.ts';
import { evaluationModel, type Selection, type Suite } from './suite.ts';

type RegressionPlan = Plan & {
  task: Extract<Plan['task'], { kind: 'regression' }>;
  model: Extract<Plan['model'], { kind: 'lsa-merged' | 'lsa-factorised' | 'icl-transformer' }>;
};

/** What the suite needs of a model that predicts w from a prompt (LSA or the ICL transformer). */
type WeightPredictor = Pick<
  LsaModel,
  'params' | 'grads' | 'pred' | 'w' | 'loss' | 'bytes' | 'setBatch' | 'forward' | 'forwardBackward' | 'backward' | 'destroy'
>;

function makeModel(rt: Runtime, plan: RegressionPlan, d: number, n: number, batch: number): WeightPredictor {
  const m = plan.model;
  if (m.kind === 'icl-transformer')
    return new IclTransformerModel(
      rt,
      { d, n, dModel: m.dModel, layers: m.layers, heads: m.heads, mlp: m.mlp, initStd: m.initStd },
      batch,
      plan.seed,
    );
  return new LsaModel(rt, {
    form: m.kind === 'lsa-merged' ? 'merged' : 'factorised',
    d,
    n,
    batch,
    k: m.k,
    initStd: m.initStd,
    seed: plan.seed,
  });
}

/** The task configuration a regression plan describes. */
export function taskConfig(plan: RegressionPlan): RegressionTaskConfig {
  const { d, n, noise, domains, head, rest, rotate } = plan.task;
  return {
    d,
    n,
    noise,
    domains: domains === 'balanced' ? balancedDomains(d) : headTailDomains(d, head, rest),
    ...(rotate ? { basis: randomBasis(d, plan.seed) } : {}),
  };
}

/** The most prompts one prediction pass takes (see predict). */
const EVAL_BATCH = 1024;

export function regressionSuite(rt: Runtime, plan: RegressionPlan): Suite {
  const cfg = taskConfig(plan);
  const B = plan.batch;
  const { d, n } = cfg;
  const model = makeModel(rt, plan, d, n, B);
  const rl = {
    sample: rt.empty([B, d], 'f32', 'rl.sample'),
    xi: rt.empty([B, d], 'f32', 'rl.xi'),
    errs: rt.empty([B], 'f32', 'rl.errs'),
    derr: rt.empty([B, d], 'f32', 'rl.derr'),
    rewards: rt.empty([B], 'f32', 'rl.rewards'),
    adv: rt.empty([B], 'f32', 'rl.adv'),
    flat: rt.empty([B], 'f32', 'rl.flat'),
    dmean: rt.empty([B, d], 'f32', 'rl.dmean'),
    meanReward: rt.empty([1], 'f32', 'rl.mean_reward'),
  };
  const evalMix = mixtureOf(plan.task, plan.eval.mixture);
  const evalSet = makeEvalSet(plan.seed, cfg, evalMix, plan.eval.size);
  const valSet = plan.eval.validation > 0 ? makeValidationSet(plan.seed, cfg, evalMix, plan.eval.validation) : undefined;
  const pools = new Map<number, { pool: RegressionPool; ids: number[] }>();

  // Predictions (held-out sets, pool scores) come from a copy of batch up to EVAL_BATCH: the same
  // numbers, one forward and read back where B would take many.
  const wide = evaluationModel(rt, model, B, plan.eval, EVAL_BATCH, (batch) => makeModel(rt, plan, d, n, batch));

  /** The model's predictions for every example of `set`, in chunks of its batch (the last one padded). */
  async function predict(set: RegressionPool): Promise<Float32Array> {
    const { model: m, batch: rows } = wide.current();
    const count = set.w.length / d;
    const out = new Float32Array(count * d);
    for (let start = 0; start < count; start += rows) {
      const ids = Array.from({ length: rows }, (_, i) => Math.min(start + i, count - 1));
      const chunk = poolBatch(set, ids);
      m.setBatch(chunk.X, chunk.y, chunk.w);
      m.forward();
      const pred = await rt.readF32(m.pred);
      out.set(pred.subarray(0, Math.min(rows, count - start) * d), start * d);
    }
    return out;
  }

  function draw(phase: Phase, index: number, rng: StreamRng, count: number): RegressionBatch {
    const curated = pools.get(index);
    if (!curated) return sampleBatch(rng, cfg, mixtureOf(plan.task, phase.mixture), count);
    return poolBatch(
      curated.pool,
      Array.from({ length: count }, () => curated.ids[rng.int(curated.ids.length)]),
    );
  }

  return {
    params: model.params,
    grads: model.grads,
    get bytes() {
      return model.bytes + wide.bytes;
    },

    async prepare(phase, index, kept, onSelect: (s: Selection) => void, memo) {
      if (phase.pool === undefined || phase.select === undefined) return undefined;
      const pool = makePool(plan.seed * 1000 + index + 1, cfg, mixtureOf(plan.task, phase.mixture), phase.pool);
      const ids = await curate(
        phase.select,
        phase.pool,
        index,
        plan.seed,
        kept,
        async () => {
          const pred = await predict(pool);
          if (phase.select?.by !== 'pass-rate') return exampleErrors(pred, pool);
          const rng = new StreamRng(`pass-rate:${index}`, plan.seed);
          return passRates(pred, pool, phase.sigma, plan.task.tau, phase.select.samples, rng).map((r) => 1 - r);
        },
        onSelect,
        memo,
      );
      pools.set(index, { pool, ids });
      return ids;
    },

    async step(phase, index, rng, globalStep, record, update) {
      if (phase.kind !== 'rl') {
        const batch = draw(phase, index, rng, B);
        model.setBatch(batch.X, batch.y, batch.w);
        rt.batch(`${phase.name} step`, () => {
          model.forwardBackward();
          record();
          update();
        });
        return;
      }
      const P = B / phase.group;
      const prompts = draw(phase, index, rng, P);
      const asPool: RegressionPool = { ...prompts, kind: 'pool', seed: 0, size: P, cfg, mixture: {} };
      const batch = poolBatch(
        asPool,
        Array.from({ length: B }, (_, i) => Math.floor(i / phase.group)),
      );
      model.setBatch(batch.X, batch.y, batch.w);
      rt.batch(`${phase.name} step`, () => {
        model.forward();
        gaussian_sample(rt, rl.sample, rl.xi, model.pred, undefined, { seed: plan.seed, step: globalStep, sigma: phase.sigma });
        // The reward sees only the outcome: minus the squared error of the sampled answer, or
        // whether that error is below tau (pass / fail).
        mse_loss(rt, rl.errs, rl.derr, rl.sample, model.w);
        if (phase.reward === 'pass') threshold(rt, rl.rewards, rl.errs, plan.task.tau);
        else scale(rt, rl.rewards, rl.errs, -1);
        advantages(
          rt,
          rt.view(rl.adv, 0, [P, phase.group]),
          rt.view(rl.flat, 0, [P]),
          rt.view(rl.rewards, 0, [P, phase.group]),
          undefined,
          {
            mode: AdvantageMode.GRPO,
          },
        );
        gaussian_reinforce_backward(rt, rl.dmean, undefined, model.pred, rl.sample, rl.adv, undefined, { sigma: phase.sigma });
        sum(rt, rl.meanReward, rl.rewards, { scale: 1 / B });
        model.backward(rl.dmean);
        record();
        update();
      });
    },

    async readValue(phase) {
      return (await rt.readF32(phase.kind === 'rl' ? rl.meanReward : model.loss))[0];
    },

    async evaluate(split = 'test'): Promise<RegressionMetrics> {
      const set = split === 'validation' ? valSet : evalSet;
      if (!set) throw new Error('evaluate: this plan has no validation split (eval.validation is 0)');
      return regressionMetrics(await predict(set), set, cfg, plan.task.tau);
    },

    destroy() {
      model.destroy();
      wide.destroy();
      for (const t of Object.values(rl) as Tensor[]) t.destroy();
    },
  };
}
