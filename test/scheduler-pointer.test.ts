/**
 * The scheduler on the chain-of-thought token suite: pretraining, SFT on a curated hard set and RL
 * with the verifier's reward, on the tiny transformer; evaluation by greedy generation scored by the
 * verifier; the same plan twice gives the same metrics, and a resumed run matches an uninterrupted one.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { type PointerMetrics, promptLength } from '../src/tasks/pointer.ts';
import { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from '../src/train/checkpoint.ts';
import type { PlanInput } from '../src/train/plan.ts';
import { type RunEvent, runPlan } from '../src/train/scheduler.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

const plan: PlanInput = {
  seed: 4,
  task: { kind: 'pointer', nodes: 5, maxHops: 3 },
  model: { kind: 'transformer', dModel: 16, layers: 1, heads: 2 },
  batch: 8,
  eval: { size: 12, every: 1000 },
  phases: [
    { name: 'pretrain', kind: 'pretrain', steps: 12, lr: 0.01 },
    { name: 'sft', kind: 'sft', pool: 24, select: { rule: 'hardest', m: 6 }, steps: 4, lr: 0.003 },
    { name: 'rl', kind: 'rl', pool: 24, select: { rule: 'band', m: 8, band: 'medium' }, steps: 3, lr: 0.003, group: 4 },
  ],
};

describe('the pointer-chasing suite in the scheduler', () => {
  it('runs pretrain, SFT and RL and reports verifier metrics', async () => {
    const events: RunEvent[] = [];
    // Logged every 4 supervised steps and every RL step (logEvery per phase kind).
    const results = await runPlan(rt, plan, (e) => events.push(e), { logEvery: { pretrain: 4, sft: 4, rl: 1 } });
    expect(results.map((r) => r.name)).toEqual(['pretrain', 'sft', 'rl']);
    for (const r of results) {
      const m = r.metrics as PointerMetrics;
      expect(m.n).toBe(12);
      expect(m.accuracy).toBeGreaterThanOrEqual(0);
      expect(m.accuracy).toBeLessThanOrEqual(1);
      expect(Object.keys(m.byVariant).sort()).toEqual(['double', 'forward', 'inverse']);
      expect(Number.isFinite(m.meanExcess)).toBe(true);
    }
    const selections = events.filter((e): e is Extract<RunEvent, { type: 'selection' }> => e.type === 'selection');
    expect(selections.map((s) => [s.phase, s.ids.length])).toEqual([
      ['sft', 6],
      ['rl', 8],
    ]);
    const steps = events.filter((e): e is Extract<RunEvent, { type: 'step' }> => e.type === 'step');
    const pre = steps.filter((s) => s.phase === 'pretrain').map((s) => s.loss as number);
    expect(pre.every(Number.isFinite)).toBe(true);
    expect(pre[pre.length - 1]).toBeLessThan(pre[0]); // next-token loss falls during pretraining
    expect(steps.map((s) => `${s.phase} ${s.step}`)).toEqual([
      'pretrain 4',
      'pretrain 8',
      'pretrain 12',
      'sft 4',
      'rl 1',
      'rl 2',
      'rl 3',
    ]);
    const rl = steps.filter((s) => s.phase === 'rl');
    expect(rl.every((s) => s.reward !== undefined && s.reward >= 0 && s.reward <= 1)).toBe(true);
    // Each RL step reports its samples' mean length: at least one token (EOS), at most the generation
    // limit (the default context 64 minus the prompt, 3P + 4 = 19 tokens); only RL steps do.
    expect(steps.filter((s) => s.rollout).map((s) => s.phase)).toEqual(['rl', 'rl', 'rl']);
    for (const s of rl) {
      const { length, excess } = s.rollout as { length: number; excess: number };
      expect(length).toBeGreaterThanOrEqual(1);
      expect(length).toBeLessThanOrEqual(64 - promptLength({ nodes: 5 }));
      expect(Number.isFinite(excess)).toBe(true);
    }
  });

  it('runs the table layout with initStd, and reuses curation scores through memoScores', async () => {
    const table: PlanInput = {
      ...plan,
      task: { kind: 'pointer', nodes: 5, maxHops: 3, layout: 'table' },
      model: { kind: 'transformer', dModel: 16, layers: 1, heads: 2, initStd: 0.25 },
      phases: [{ name: 'pretrain', kind: 'pretrain', steps: 4, lr: 0.01 }],
    };
    const saved: Checkpoint[] = [];
    await runPlan(rt, table, () => {}, { checkpointEvery: 1000, onCheckpoint: (c) => void saved.push(c) });
    const from = saved[saved.length - 1];
    const post = (lr: number): PlanInput => ({
      ...table,
      phases: [
        {
          name: 'rl',
          kind: 'rl',
          pool: 16,
          select: { rule: 'band', m: 4, band: 'medium', by: 'pass-rate', samples: 4 },
          steps: 1,
          lr,
          group: 4,
        },
      ],
    });
    const cache = new Map<string, Promise<ArrayLike<number>>>();
    let computed = 0;
    const memoScores = (key: string, compute: () => Promise<ArrayLike<number>>) => {
      if (!cache.has(key)) {
        computed++;
        cache.set(key, compute());
      }
      return cache.get(key) as Promise<ArrayLike<number>>;
    };
    const selected = async (p: PlanInput, memo: boolean) => {
      const events: RunEvent[] = [];
      await runPlan(rt, p, (e) => events.push(e), { initFrom: from, ...(memo ? { memoScores } : {}) });
      return events.find((e): e is Extract<RunEvent, { type: 'selection' }> => e.type === 'selection');
    };
    const plain = await selected(post(0.001), false);
    const first = await selected(post(0.001), true);
    const second = await selected(post(0.003), true); // another lr: same pool, same starting parameters
    expect(computed).toBe(1);
    expect(first).toEqual(plain);
    expect(second).toEqual(plain);
    // A different pool is a different key.
    await selected({ ...post(0.001), phases: [{ ...post(0.001).phases[0], pool: 20 }] }, true);
    expect(computed).toBe(2);
    // So are other held-out sets (the pool leaves their items out).
    await selected({ ...post(0.001), eval: { ...table.eval, size: 10 } }, true);
    expect(computed).toBe(3);
  });

  it('is deterministic, and resumes from a mid-RL checkpoint to the same metrics', async () => {
    const full = await runPlan(rt, plan);
    const saved: Uint8Array[] = [];
    await runPlan(rt, plan, () => {}, {
      checkpointEvery: 2,
      onCheckpoint: async (c: Checkpoint) => {
        saved.push(await encodeCheckpoint(c));
        if (c.phase === 2 && c.step === 2) throw new Error('stop');
      },
    }).catch((e) => {
      if ((e as Error).message !== 'stop') throw e;
    });
    const last = await decodeCheckpoint(saved[saved.length - 1]);
    expect([last.phase, last.step]).toEqual([2, 2]);
    const resumed = await runPlan(rt, last.plan, () => {}, { resume: last });
    expect(resumed.map((r) => (r.metrics as PointerMetrics).accuracy)).toEqual(
      full.map((r) => (r.metrics as PointerMetrics).accuracy),
    );
    expect(resumed.map((r) => (r.metrics as PointerMetrics).meanExcess)).toEqual(
      full.map((r) => (r.metrics as PointerMetrics).meanExcess),
    );
  });

  it('refuses an LSA model for the token task and hops outside the task', async () => {
    await expect(runPlan(rt, { ...plan, model: { kind: 'lsa-merged' } })).rejects.toThrow(
      /model\.kind: the pointer task needs model kind 'transformer'/,
    );
    await expect(
      runPlan(rt, { ...plan, phases: [{ name: 'p', kind: 'pretrain', steps: 1, lr: 0.1, hops: [2, 9] }] }),
    ).rejects.toThrow(/phases\[0\]\.hops: hops is \[lo, hi\]/);
  });

  it('RL moves the parameters once the verifier rewards some samples', async () => {
    // One hop: the model learns the output format quickly, so some sampled answers are right.
    const easy: PlanInput = {
      ...plan,
      task: { kind: 'pointer', nodes: 4, maxHops: 1 },
      phases: [
        { name: 'pretrain', kind: 'pretrain', steps: 60, lr: 0.01 },
        { name: 'rl', kind: 'rl', steps: 6, lr: 0.01, group: 4 },
      ],
    };
    const saved: Checkpoint[] = [];
    const rewards: number[] = [];
    await runPlan(rt, easy, (e) => e.type === 'step' && e.reward !== undefined && rewards.push(e.reward), {
      logEvery: 1,
      checkpointEvery: 1000,
      onCheckpoint: (c) => void saved.push(c),
    });
    expect(rewards.some((r) => r > 0)).toBe(true);
    const [before, after] = [saved[0].params, saved[1].params];
    let change = 0;
    for (let i = 0; i < before.length; i++) change = Math.max(change, Math.abs(after[i] - before[i]));
    expect(change).toBeGreaterThan(1e-3);
  });

  it("selects RL prompts by the pass rate on the verifier (the paper's easy / medium / too hard)", async () => {
    const byPassRate: PlanInput = {
      ...plan,
      task: { kind: 'pointer', nodes: 4, maxHops: 1 },
      phases: [
        { name: 'pretrain', kind: 'pretrain', steps: 40, lr: 0.01 },
        {
          name: 'rl',
          kind: 'rl',
          pool: 16,
          select: { rule: 'hardest', m: 8, by: 'pass-rate', samples: 4 },
          steps: 1,
          lr: 0.001,
          group: 4,
        },
      ],
    };
    const events: RunEvent[] = [];
    await runPlan(rt, byPassRate, (e) => events.push(e));
    const selection = events.find((e): e is Extract<RunEvent, { type: 'selection' }> => e.type === 'selection');
    expect(selection?.ids).toHaveLength(8);
    // Scores are 1 - (passes / 4): quarters in [0, 1], the hardest first.
    for (const s of selection?.scores ?? []) expect([0, 0.25, 0.5, 0.75, 1]).toContain(s);
    const scores = selection?.scores ?? [];
    expect(Math.min(...scores)).toBeLessThan(1); // the pretrained model passes some of them
    for (let i = 1; i < scores.length; i++) expect(scores[i]).toBeLessThanOrEqual(scores[i - 1]);
    // The token task's reward is its verifier: a dense 'error' reward is refused, naming the field.
    await expect(runPlan(rt, { ...byPassRate, phases: [{ ...byPassRate.phases[1], reward: 'error' }] })).rejects.toThrow(
      /phases\[0\]\.reward: the token task's reward is its verifier/,
    );
  });

  it('never trains on a held-out problem; held-out sets that cover the whole problem space are refused', async () => {
    // 3 nodes, k = 1, forward only: 12 distinct problems (drawPool finds no 13th), all in the test set.
    const plan: PlanInput = {
      task: { kind: 'pointer', nodes: 3, maxHops: 1, variants: ['forward'] },
      model: { kind: 'transformer', dModel: 8, layers: 1, heads: 2 },
      batch: 4,
      eval: { size: 12, every: 100 },
      phases: [{ name: 'pretrain', kind: 'pretrain', steps: 1, lr: 0.001 }],
    };
    await expect(runPlan(rt, plan)).rejects.toThrow(
      /pointer task: eval\.size: phase pretrain: 1000 training draws in a row were held-out problems/,
    );
  });
});
