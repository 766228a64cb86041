/**
 * Numerical blow-up (robustness): NaN or an overflowing update is found on the GPU within the steps
 * between two checks, reported with the phase, the step and the tensors, and handled as the plan's
 * onNonFinite says: stop (the default), or roll back to the last checked state with a smaller
 * learning rate. No checkpoint ever holds an unchecked step; a rolled-back run resumes exactly.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import type { Checkpoint } from '../src/train/checkpoint.ts';
import { NonFiniteError } from '../src/train/monitor.ts';
import type { PlanInput } from '../src/train/plan.ts';
import { metricsCsv } from '../src/train/results.ts';
import { type Faults, type RunEvent, runPlan } from '../src/train/scheduler.ts';
import { getTestRuntime } from './runtime.ts';
import { mseOf } from './helpers.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

const plan = (onNonFinite?: PlanInput['onNonFinite']): PlanInput => ({
  seed: 4,
  task: { kind: 'regression', d: 4, n: 16, head: 2 },
  batch: 16,
  eval: { size: 48, every: 1000 },
  phases: [
    { name: 'pretrain', kind: 'pretrain', steps: 24, lr: 0.02, schedule: { kind: 'constant' } },
    { name: 'sft', kind: 'sft', steps: 8, lr: 0.005 },
  ],
  ...(onNonFinite ? { onNonFinite } : {}),
});

/** Checks every 10 steps, checkpoints every 7: a checkpoint falls between two checks. */
const cadence = { logEvery: 10, checkpointEvery: 7 };

async function run(p: PlanInput, faults: Faults, resume?: Checkpoint) {
  const events: RunEvent[] = [];
  const saved: Checkpoint[] = [];
  const result = await runPlan(rt, p, (e) => events.push(e), {
    ...cadence,
    faults,
    resume,
    onCheckpoint: (c) => void saved.push(c),
  }).catch((e: unknown) => e);
  return { result, events, saved };
}

describe('numerical blow-up', () => {
  it('stop (the default): a NaN before step 13 stops the run at the next check, naming phase, step and tensor', async () => {
    const { result, saved } = await run(plan(), { nanAt: 12 });
    expect(result).toBeInstanceOf(NonFiniteError);
    const err = result as NonFiniteError;
    // Found at the checkpoint after step 14 (before it is written), reported at step 13.
    expect(err.message).toMatch(/^phase pretrain, step 13: training blew up: \d+ non-finite gradient values at step 12/);
    expect(err.tensors).toContain('Q');
    // The checkpoint at step 14 was not written: only the one at step 7, and it is finite.
    expect(saved.map((c) => c.step)).toEqual([7]);
    expect(saved.every((c) => c.params.every(Number.isFinite))).toBe(true);
  });

  it('a parameter overflowing the forward (3e38, finite) is caught through its gradients', async () => {
    const { result, saved } = await run(plan(), { overflowAt: 3 });
    expect(result).toBeInstanceOf(NonFiniteError);
    expect((result as Error).message).toMatch(
      /^phase pretrain, step 4: training blew up: \d+ non-finite gradient values at step 3/,
    );
    expect(saved).toEqual([]);
  });

  it("NaN in the parameters after finite gradients is caught by the parameters' count at the check", async () => {
    // After step 10's update (global step 9), just before the check: no gradient has seen it yet.
    // The fault fills the last tensor, P (4x4).
    const { result, saved } = await run(plan(), { nanAfter: 9 });
    expect(result).toBeInstanceOf(NonFiniteError);
    expect((result as Error).message).toBe(
      'phase pretrain, step 10: training blew up: 16 non-finite parameter values; parameters with NaN/Inf now: P',
    );
    expect(saved.map((c) => c.step)).toEqual([7]);
  });

  it('rollback: back to the last checked state with half the learning rate, then on to the end', async () => {
    const p = plan({ action: 'rollback', lrFactor: 0.5, retries: 2 });
    const clean = await run(p, {});
    const { result, events, saved } = await run(p, { nanAt: 12 });
    expect(result).toBeInstanceOf(Array);
    const rollbacks = events.filter((e) => e.type === 'rollback');
    expect(rollbacks).toHaveLength(1);
    expect(rollbacks[0]).toMatchObject({ phase: 'pretrain', index: 0, step: 13, to: 10, lrScale: 0.5, rollbacks: 1 });
    expect((rollbacks[0] as { tensors: string[] }).tensors).toContain('Q');
    // Up to the checked step 10 the run is the clean one; after it, the learning rate is halved.
    const steps = (es: RunEvent[]) =>
      es.filter((e) => e.type === 'step' && e.phase === 'pretrain') as { step: number; lr: number; loss: number }[];
    expect(steps(events)[0]).toEqual(steps(clean.events)[0]);
    const after = steps(events).filter((e, i, all) => all.findIndex((x) => x.step === e.step) !== i || e.step > 10);
    expect(after.map((e) => e.lr)).toEqual(after.map(() => 0.01));
    // Every saved checkpoint is finite and knows the rollback from step 14 on.
    expect(saved.every((c) => c.params.every(Number.isFinite))).toBe(true);
    expect(saved.filter((c) => c.phase === 0).map((c) => [c.step, c.lrScale])).toEqual([
      [7, 1],
      [14, 0.5],
      [21, 0.5],
    ]);
    // The table of steps holds each step once: the superseded ones are left out.
    const csvSteps = metricsCsv(events)
      .split('\n')
      .filter((l) => l.startsWith('step,pretrain,'))
      .map((l) => Number(l.split(',')[2]));
    expect(csvSteps).toEqual([10, 20, 24]);
    const [pre, sft] = result as { metrics: unknown }[];
    expect(Number.isFinite(mseOf(pre.metrics as never))).toBe(true);
    // Resumed from the checkpoint after the rollback, the run ends exactly where the uninterrupted one did.
    const resumed = await run(
      p,
      {},
      saved.find((c) => c.phase === 0 && c.step === 14),
    );
    expect(resumed.result).toEqual(result);
    expect(mseOf(sft.metrics as never)).toBe(mseOf((resumed.result as { metrics: unknown }[])[1].metrics as never));
  });

  it('rollback stops once the retries are spent', async () => {
    const { result, events } = await run(plan({ action: 'rollback', lrFactor: 0.5, retries: 1 }), { nanAt: 12, overflowAt: 15 });
    expect(events.filter((e) => e.type === 'rollback')).toHaveLength(1);
    expect(result).toBeInstanceOf(NonFiniteError);
    expect((result as Error).message).toMatch(/\(after 1 rollbacks, the most onNonFinite\.retries allows\)$/);
  });
});
