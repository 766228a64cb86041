/**
 * Checkpoints in the browser: kept in IndexedDB, they survive (a reload is a new page reading the
 * same database) and a run resumed from one ends with the metrics of an uninterrupted run.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { isNode } from '../src/device/index.ts';
import type { Runtime } from '../src/gpu/runtime.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../src/train/checkpoint.ts';
import type { PlanInput } from '../src/train/plan.ts';
import { runPlan } from '../src/train/scheduler.ts';
import { indexedDbStore } from '../src/train/store.ts';
import { getTestRuntime } from './runtime.ts';
import { mseOf } from './helpers.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

const plan: PlanInput = {
  seed: 12,
  task: { kind: 'regression', d: 4, n: 16, head: 2 },
  batch: 16,
  eval: { size: 32, every: 100 },
  phases: [
    { name: 'pretrain', kind: 'pretrain', steps: 15, lr: 0.02 },
    { name: 'sft', kind: 'sft', pool: 64, select: { rule: 'hardest', m: 8 }, steps: 10, lr: 0.005 },
  ],
};

describe.skipIf(isNode)('IndexedDB checkpoint store', () => {
  it('saves, loads and removes bytes; a run resumed from IndexedDB matches an uninterrupted one', async () => {
    const dbName = `test-${Date.now()}`;
    const store = await indexedDbStore(dbName);
    expect(await store.load('none')).toBeUndefined();
    const full = await runPlan(rt, plan);
    let saves = 0;
    await runPlan(rt, plan, () => {}, {
      checkpointEvery: 5,
      onCheckpoint: async (c) => {
        await store.save('latest', await encodeCheckpoint(c));
        if (++saves === 4) throw new Error('stop');
      },
    }).catch((e) => {
      if ((e as Error).message !== 'stop') throw e;
    });
    // A fresh handle on the same database, as after a reload.
    const again = await indexedDbStore(dbName);
    const bytes = await again.load('latest');
    expect(bytes).toBeDefined();
    const c = await decodeCheckpoint(bytes as Uint8Array, 'IndexedDB latest');
    expect([c.phase, c.step]).toEqual([1, 5]);
    const resumed = await runPlan(rt, c.plan, () => {}, { resume: c });
    expect(resumed.map((r) => mseOf(r.metrics))).toEqual(full.map((r) => mseOf(r.metrics)));
    await store.remove('latest');
    expect(await store.load('latest')).toBeUndefined();
  });
});
