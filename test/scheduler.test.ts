/**
 * The scheduler: one loop over a plan's phases, the same in Node and in Chromium; events in order;
 * curated selections recorded; the same plan and seed give the same metrics twice.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { type PlanInput, parsePlan } from '../src/train/plan.ts';
import { learningRate, type RunEvent, runPlan, selectIds } from '../src/train/scheduler.ts';
import { type RegressionMetrics, StreamRng } from '../src/tasks/regression.ts';
import { getTestRuntime } from './runtime.ts';
import { mseOf } from './helpers.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

const tiny: PlanInput = {
  name: 'tiny',
  seed: 3,
  task: { kind: 'regression', d: 4, n: 16, noise: 0.1, domains: 'head-tail', head: 2 },
  model: { kind: 'lsa-factorised', initStd: 0.05 },
  batch: 32,
  eval: { size: 100, every: 20, mixture: { head: 0.5, tail: 0.5 } },
  phases: [
    { name: 'pretrain', kind: 'pretrain', steps: 40, lr: 0.02 },
    { name: 'sft', kind: 'sft', mixture: { tail: 1 }, pool: 256, select: { rule: 'hardest', m: 16 }, steps: 10, lr: 0.005 },
    { name: 'rl', kind: 'rl', pool: 256, select: { rule: 'band', m: 64, band: [0.25, 0.75] }, steps: 10, lr: 0.005, group: 8 },
  ],
};

describe('runPlan', () => {
  it('runs pretrain, SFT and RL in one loop and reports each step of the way', async () => {
    const events: RunEvent[] = [];
    const results = await runPlan(rt, tiny, (e) => events.push(e), { logEvery: 5 });
    const kinds = events.map((e) => e.type);
    expect(kinds[0]).toBe('run-start');
    expect(kinds[kinds.length - 1]).toBe('run-end');
    const phases = events.filter((e) => e.type === 'phase-start').map((e) => (e as { phase: string }).phase);
    expect(phases).toEqual(['pretrain', 'sft', 'rl']);
    // Selections are recorded with the ids and their scores: the hardest are the highest scores.
    const selections = events.filter((e): e is Extract<RunEvent, { type: 'selection' }> => e.type === 'selection');
    expect(selections.map((s) => [s.phase, s.rule, s.ids.length])).toEqual([
      ['sft', 'hardest', 16],
      ['rl', 'band', 64],
    ]);
    const hardest = selections[0].scores;
    for (let i = 1; i < hardest.length; i++) expect(hardest[i]).toBeLessThanOrEqual(hardest[i - 1]);
    // Steps carry a finite loss (pretrain, SFT) or mean reward (RL).
    const steps = events.filter((e): e is Extract<RunEvent, { type: 'step' }> => e.type === 'step');
    expect(steps.filter((s) => s.phase === 'pretrain').map((s) => s.step)).toEqual([5, 10, 15, 20, 25, 30, 35, 40]);
    for (const s of steps) expect(Number.isFinite(s.loss ?? s.reward)).toBe(true);
    expect(steps.filter((s) => s.phase === 'rl').every((s) => s.reward !== undefined && s.reward < 0)).toBe(true);
    // Pretraining lowers the held-out error from the near-zero initial model's.
    const evals = events.filter((e): e is Extract<RunEvent, { type: 'eval' }> => e.type === 'eval');
    expect(evals[0].phase).toBe('pretrain');
    expect(results.map((r) => r.name)).toEqual(['pretrain', 'sft', 'rl']);
    const first = results[0].metrics as RegressionMetrics;
    expect(first.count).toBe(100);
    expect(Object.keys(first.perDomain).sort()).toEqual(['head', 'tail']);
  });

  it('the same plan and seed give bit-identical results twice in a row: every logged value, metric and parameter', async () => {
    const once = async () => {
      const events: RunEvent[] = [];
      let params: Float32Array = new Float32Array(0);
      await runPlan(rt, tiny, (e) => events.push(e), {
        logEvery: 5,
        checkpointEvery: 1000,
        onCheckpoint: (c) => {
          params = c.params;
        },
      });
      return { events, params };
    };
    const a = await once();
    const b = await once();
    expect(a.params.length).toBeGreaterThan(0);
    // Compared bit for bit: each f32 parameter's bits, and each logged number (f64 from f32 results) exactly.
    expect(new Uint32Array(b.params.buffer)).toEqual(new Uint32Array(a.params.buffer));
    expect(JSON.stringify(b.events)).toBe(JSON.stringify(a.events));
    expect(a.events.filter((e) => e.type === 'step').length).toBe(12);
  });

  it('refuses an invalid plan before touching the GPU, naming every field', async () => {
    const bad = { ...tiny, batch: 30, phases: [{ name: 'x', kind: 'rl', steps: 0, lr: 0, group: 8 }] };
    await expect(runPlan(rt, bad)).rejects.toThrow(/phases\[0\]\.steps: must be >= 1[\s\S]*phases\[0\]\.lr: must be > 0/);
    await expect(runPlan(rt, { ...tiny, batch: 30 })).rejects.toThrow(/phases\[2\]\.group: must divide the phase's batch \(30\)/);
    await expect(runPlan(rt, { ...tiny, eval: { size: 10, every: 5, mixture: { middle: 1 } } })).rejects.toThrow(
      /eval\.mixture\.middle: unknown domain; this task's domains are head, tail/,
    );
  });
});

describe('a phase that trains some tensors only', () => {
  it('moves the named tensors and leaves the others bit for bit (an output-only probe)', async () => {
    const params: Float32Array[] = [];
    const probe = {
      ...tiny,
      phases: [tiny.phases[0], { ...tiny.phases[1], train: ['P'] }],
    };
    let shapes: { name: string; shape: number[] }[] = [];
    await runPlan(rt, probe, () => {}, {
      checkpointEvery: 1000,
      onCheckpoint: (c) => {
        params.push(c.params);
        shapes = c.paramShapes;
      },
    });
    // Checkpoints at the end of each phase: after pretraining and after the probe.
    expect(params).toHaveLength(2);
    const [pre, post] = params;
    // A checkpoint holds the parameter arena as is: each tensor starts at an aligned offset.
    const align = rt.limits.minStorageBufferOffsetAlignment / 4;
    let at = 0;
    const moved: Record<string, boolean> = {};
    for (const { name, shape } of shapes) {
      const n = shape.reduce((a, b) => a * b, 1);
      moved[name] = pre.slice(at, at + n).some((x, i) => x !== post[at + i]);
      at += Math.ceil(n / align) * align;
    }
    expect(at).toBe(pre.length);
    expect(moved).toEqual({ Q: false, P: true });
    await expect(runPlan(rt, { ...probe, phases: [{ ...tiny.phases[0], train: ['W'] }] })).rejects.toThrow(
      /phases\[0\]\.train: unknown parameter "W"; this model's parameters: Q, P/,
    );
  });
});

describe('curation and schedules', () => {
  const scores = Float64Array.from([0.5, 3, 1, 9, 2, 7, 4, 8, 6, 5]);
  const rng = () => new StreamRng('t', 1);
  it('selects the hardest, the easiest, a random set and a quantile band', () => {
    expect(selectIds(scores, { rule: 'hardest', m: 3 }, rng())).toEqual([3, 7, 5]);
    expect(selectIds(scores, { rule: 'easiest', m: 2 }, rng())).toEqual([0, 2]);
    const random = selectIds(scores, { rule: 'random', m: 4 }, rng());
    expect(new Set(random).size).toBe(4);
    expect(selectIds(scores, { rule: 'random', m: 4 }, rng())).toEqual(random);
    const band = selectIds(scores, { rule: 'band', m: 10, band: [0.2, 0.6] }, rng());
    expect(band.map((i) => scores[i]).sort((x, y) => x - y)).toEqual([2, 3, 4, 5]);
  });

  it('warms up linearly, then decays by a cosine to the floor', () => {
    const phase = parsePlan({
      ...tiny,
      phases: [{ name: 'p', kind: 'pretrain', steps: 100, lr: 1, schedule: { kind: 'cosine', warmup: 10, floor: 0.1 } }],
    }).phases[0];
    expect(learningRate(phase, 0)).toBeCloseTo(0.1);
    expect(learningRate(phase, 9)).toBeCloseTo(1);
    expect(learningRate(phase, 10)).toBeCloseTo(1);
    expect(learningRate(phase, 55)).toBeCloseTo(0.55);
    expect(learningRate(phase, 99)).toBeCloseTo(0.1, 2);
  });

  it("names difficulty bands: 'easy', 'medium' and 'hard' are thirds of the pool", () => {
    const parsed = parsePlan({
      ...tiny,
      phases: [{ name: 'r', kind: 'rl', pool: 90, select: { rule: 'band', m: 30, band: 'hard' }, steps: 1, lr: 0.1 }],
    });
    expect(parsed.phases[0].select?.band).toEqual([2 / 3, 1]);
    const ids = selectIds(
      Float64Array.from({ length: 90 }, (_, i) => i),
      parsed.phases[0].select as never,
      rng(),
    );
    expect(Math.min(...ids)).toBeGreaterThanOrEqual(60);
    expect(() =>
      parsePlan({
        ...tiny,
        phases: [{ name: 'r', kind: 'rl', pool: 9, select: { rule: 'band', m: 3, band: 'extreme' }, steps: 1, lr: 0.1 }],
      }),
    ).toThrow(/phases\[0\]\.select\.band/);
  });

  it("regression RL by pass rate: bands by the policy's pass rate, a 0/1 reward, and a validation split", async () => {
    const plan: PlanInput = {
      ...tiny,
      task: { ...(tiny.task as object), kind: 'regression', rotate: true, tau: 2 },
      eval: { size: 64, every: 100, validation: 48 },
      phases: [
        { name: 'pretrain', kind: 'pretrain', steps: 30, lr: 0.02 },
        {
          name: 'rl',
          kind: 'rl',
          pool: 96,
          select: { rule: 'band', band: 'medium', m: 16, by: 'pass-rate', samples: 8 },
          reward: 'pass',
          steps: 10,
          lr: 0.005,
        },
      ],
    };
    const events: RunEvent[] = [];
    const results = await runPlan(rt, plan, (e) => events.push(e), { logEvery: 5 });
    const selection = events.find((e): e is Extract<RunEvent, { type: 'selection' }> => e.type === 'selection');
    // Scores are 1 - passes / 8.
    for (const s of selection?.scores ?? []) expect(Number.isInteger(s * 8)).toBe(true);
    // The mean reward of a 0/1 reward lies in [0, 1].
    const rewards = events.flatMap((e) => (e.type === 'step' && e.reward !== undefined ? [e.reward] : []));
    expect(rewards.length).toBe(2);
    for (const r of rewards) expect(r >= 0 && r <= 1).toBe(true);
    // Both splits are evaluated after each phase; they are different sets of the same size.
    for (const r of results) {
      const test = r.metrics as RegressionMetrics;
      const val = r.validation as RegressionMetrics;
      expect([test.count, val.count]).toEqual([64, 48]);
      expect(val.mse).not.toBe(test.mse);
      expect(test.passRate).toBeGreaterThanOrEqual(0);
    }
  });

  it("a phase's batch and evaluation cadence override the plan's; parameters carry over exactly", async () => {
    const phases = (tiny.phases as object[]).slice(0, 2);
    const events: RunEvent[] = [];
    // Plan batch 32 with SFT at 16, and plan batch 16 with pretraining at 32: the same run.
    const a = await runPlan(rt, { ...tiny, phases: [phases[0], { ...phases[1], batch: 16, evalEvery: 5 }] }, (e) =>
      events.push(e),
    );
    const b = await runPlan(rt, { ...tiny, batch: 16, phases: [{ ...phases[0], batch: 32 }, phases[1]] });
    expect(b.map((r) => mseOf(r.metrics))).toEqual(a.map((r) => mseOf(r.metrics)));
    const starts = events.filter((e): e is Extract<RunEvent, { type: 'phase-start' }> => e.type === 'phase-start');
    expect(starts.map((e) => e.batch)).toEqual([32, 16]);
    // SFT (10 steps) evaluated at step 5 and at its end; pretraining every 20 of its 40 steps.
    const evals = events.filter((e): e is Extract<RunEvent, { type: 'eval' }> => e.type === 'eval');
    expect(evals.map((e) => `${e.phase}@${e.step}`)).toEqual(['pretrain@20', 'pretrain@40', 'sft@5', 'sft@10']);
    // And the batch does change the run.
    const c = await runPlan(rt, { ...tiny, phases: [phases[0], { ...phases[1], batch: 8 }] });
    expect(mseOf(c[1].metrics)).not.toBe(mseOf(a[1].metrics));
  });

  it('runs the regression suite with the ICL softmax transformer as the model', async () => {
    const plan: PlanInput = {
      ...tiny,
      model: { kind: 'icl-transformer', dModel: 8, layers: 1, heads: 2 },
      batch: 16,
      eval: { size: 64, every: 100 },
      phases: [
        { name: 'pretrain', kind: 'pretrain', steps: 30, lr: 0.01 },
        { name: 'rl', kind: 'rl', pool: 64, select: { rule: 'band', band: 'medium', m: 16 }, steps: 4, lr: 0.001, group: 4 },
      ],
    };
    const steps: number[] = [];
    const res = await runPlan(rt, plan, (e) => e.type === 'step' && e.loss !== undefined && steps.push(e.loss), { logEvery: 5 });
    expect(res.map((r) => r.name)).toEqual(['pretrain', 'rl']);
    expect(steps[steps.length - 1]).toBeLessThan(steps[0]);
    for (const r of res) expect(Number.isFinite(mseOf(r.metrics))).toBe(true);
    await expect(runPlan(rt, { ...plan, model: { kind: 'icl-transformer', dModel: 10, heads: 4 } })).rejects.toThrow(
      /model\.heads: heads must divide dModel/,
    );
  });
});
