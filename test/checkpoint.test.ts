/**
 * Checkpoints: byte round trip with a checksum, and a run interrupted anywhere and resumed from its
 * last checkpoint ends with exactly the metrics of an uninterrupted run.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { CheckpointError, type Checkpoint, decodeCheckpoint, encodeCheckpoint } from '../src/train/checkpoint.ts';
import { type PlanInput, parsePlan } from '../src/train/plan.ts';
import { NonFiniteError } from '../src/train/monitor.ts';
import { runPlan } from '../src/train/scheduler.ts';
import { getTestRuntime } from './runtime.ts';
import { mseOf } from './helpers.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

const plan: PlanInput = {
  seed: 9,
  task: { kind: 'regression', d: 4, n: 16, head: 2 },
  batch: 16,
  eval: { size: 48, every: 100 },
  phases: [
    { name: 'pretrain', kind: 'pretrain', steps: 20, lr: 0.02 },
    // Phases with their own batch sizes: a resume lands in a phase whose buffers differ from phase 0's.
    { name: 'sft', kind: 'sft', pool: 128, select: { rule: 'hardest', m: 16 }, steps: 12, lr: 0.005, batch: 8 },
    {
      name: 'rl',
      kind: 'rl',
      pool: 128,
      select: { rule: 'band', m: 32, band: [0.25, 0.75] },
      steps: 12,
      lr: 0.005,
      group: 4,
      batch: 32,
    },
  ],
};

class Interrupted extends Error {}

/** Run with checkpoints every 5 steps, kept as bytes; stop when `stopAt(event)` says so. */
async function interruptedRun(stopAfterCheckpoints: number): Promise<Uint8Array[]> {
  const saved: Uint8Array[] = [];
  await runPlan(rt, plan, () => {}, {
    checkpointEvery: 5,
    onCheckpoint: async (c) => {
      saved.push(await encodeCheckpoint(c));
      if (saved.length === stopAfterCheckpoints) throw new Interrupted();
    },
  }).catch((e) => {
    if (!(e instanceof Interrupted)) throw e;
  });
  return saved;
}

describe('checkpoints', () => {
  it('resumed runs end with exactly the metrics of an uninterrupted run', async () => {
    const full = await runPlan(rt, plan);
    // Checkpoints fall at pretraining steps 5, 10, 15, the pretraining/SFT boundary, SFT steps 5 and
    // 10, the SFT/RL boundary, RL steps 5 and 10, and the end. Stop after: mid-pretraining, the first
    // boundary, mid-SFT, mid-RL, and the end.
    for (const stop of [2, 4, 6, 9, 10]) {
      const saved = await interruptedRun(stop);
      const last = await decodeCheckpoint(saved[saved.length - 1]);
      const resumed = await runPlan(rt, last.plan, () => {}, { resume: last });
      expect(
        resumed.map((r) => [r.name, mseOf(r.metrics)]),
        `resumed from phase ${last.phase} step ${last.step}`,
      ).toEqual(full.map((r) => [r.name, mseOf(r.metrics)]));
    }
  });

  it('refuses a corrupted, a truncated, a foreign file and a checkpoint of another plan', async () => {
    const [bytes] = await interruptedRun(1);
    const c = await decodeCheckpoint(bytes, 'ck.bin');
    expect(c.phase).toBe(0);
    expect(c.step).toBe(5);
    const flipped = bytes.slice();
    flipped[bytes.length - 100] ^= 1;
    await expect(decodeCheckpoint(flipped, 'ck.bin')).rejects.toThrow(
      /ck\.bin is corrupted or truncated: its SHA-256 checksum does not match/,
    );
    await expect(decodeCheckpoint(bytes.slice(0, bytes.length - 7), 'ck.bin')).rejects.toThrow(CheckpointError);
    await expect(decodeCheckpoint(new TextEncoder().encode('{"not": "a checkpoint"}'), 'x.json')).rejects.toThrow(
      /x\.json is not a checkpoint of this program/,
    );
    const other: Checkpoint = { ...c, plan: { ...c.plan, seed: 10 } };
    await expect(runPlan(rt, c.plan, () => {}, { resume: other })).rejects.toThrow(/made for another plan/);
    const otherShape = parsePlan({ ...plan, task: { kind: 'regression', d: 5, n: 16, head: 2 } });
    await expect(runPlan(rt, otherShape, () => {}, { resume: { ...c, plan: otherShape } })).rejects.toThrow(
      /the checkpoint is from another model shape: it holds Q\[4,4\] P\[4,4\], this plan's model has Q\[5,5\] P\[5,5\]/,
    );
  });

  it("a new run can start from another run's parameters (one pretrained model, many post-trainings)", async () => {
    const pretrainOnly = { ...plan, phases: plan.phases.slice(0, 1) };
    const saved: Checkpoint[] = [];
    const [pre] = await runPlan(rt, pretrainOnly, () => {}, { checkpointEvery: 100, onCheckpoint: (c) => void saved.push(c) });
    const probe = { ...plan, phases: [{ name: 'probe', kind: 'sft' as const, steps: 1, lr: 1e-9 }] };
    const [fromPretrained] = await runPlan(rt, probe, () => {}, { initFrom: saved[saved.length - 1] });
    const [fromScratch] = await runPlan(rt, probe);
    expect(Math.abs(mseOf(fromPretrained.metrics) - mseOf(pre.metrics))).toBeLessThan(1e-4 * mseOf(pre.metrics));
    // Without it the probe starts from the initialisation, measurably elsewhere.
    expect(Math.abs(mseOf(fromScratch.metrics) - mseOf(pre.metrics))).toBeGreaterThan(0.05 * mseOf(pre.metrics));
    const otherShape = { ...probe, task: { kind: 'regression' as const, d: 6, n: 16, head: 2 } };
    await expect(runPlan(rt, otherShape, () => {}, { initFrom: saved[0] })).rejects.toThrow(
      /starting checkpoint is from another model shape: it holds Q\[4,4\] P\[4,4\], this plan's model has Q\[6,6\] P\[6,6\]/,
    );
  });

  it('NaN in the parameters is caught on the GPU and reported with the phase, the step and the tensors', async () => {
    const saved: Checkpoint[] = [];
    await runPlan(rt, { ...plan, phases: plan.phases.slice(0, 1) }, () => {}, {
      checkpointEvery: 100,
      onCheckpoint: (c) => void saved.push(c),
    });
    const poisoned: Checkpoint = { ...saved[0], params: saved[0].params.map((v, i) => (i === 3 ? Number.NaN : v)) };
    const err = await runPlan(rt, plan, () => {}, { initFrom: poisoned, logEvery: 5 }).catch((e) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect(err.message).toMatch(
      /^phase pretrain, step 1: training blew up: \d+ non-finite gradient values at step 0; gradients with NaN\/Inf now: .*Q/,
    );
    expect(err.tensors).toContain('Q');
  });
});
