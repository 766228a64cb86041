/**
 * Curves from a run's log (what the demo page charts): the token task's accuracy per variant and
 * response length at each evaluation and in the RL samples, loss and reward against the global step, phase boundaries.
 */
import { describe, expect, it } from 'vitest';
import { curves, phasesOf } from '../src/train/curves.ts';
import { parsePlan } from '../src/train/plan.ts';
import type { RunEvent } from '../src/train/scheduler.ts';
import type { PointerGroupMetrics, PointerMetrics } from '../src/tasks/pointer.ts';

const group = (accuracy: number, meanExcess: number): PointerGroupMetrics => ({
  n: 10,
  accuracy,
  meanExcess,
  meanRepeatedStates: 0,
  notFinished: 0,
  chainValid: 1,
  wellFormed: 1,
});
const metrics = (acc: number, excess: number): PointerMetrics => ({
  ...group(acc, excess),
  byK: { 1: group(acc, excess) },
  byVariant: { forward: group(acc + 0.1, excess), inverse: group(acc - 0.1, excess) },
});

describe('curves', () => {
  it('the token task: accuracy per variant and response length at each evaluation, against the global step', () => {
    const plan = parsePlan({
      task: { kind: 'pointer', nodes: 5, maxHops: 3, variants: ['forward', 'inverse'] },
      model: { kind: 'transformer', dModel: 16, layers: 1, heads: 2 },
      batch: 8,
      phases: [
        { name: 'pre', kind: 'pretrain', steps: 20, lr: 0.01 },
        { name: 'rl', kind: 'rl', steps: 10, lr: 0.01, group: 4 },
      ],
    });
    const log: RunEvent[] = [
      { type: 'phase-start', phase: 'pre', index: 0, kind: 'pretrain', steps: 20, batch: 8 },
      { type: 'step', phase: 'pre', step: 10, lr: 0.01, loss: 2 },
      { type: 'step', phase: 'pre', step: 20, lr: 0.01, loss: 1 },
      { type: 'eval', phase: 'pre', step: 20, metrics: metrics(0.5, 1.5) },
      { type: 'phase-end', phase: 'pre', index: 0, metrics: metrics(0.5, 1.5) },
      { type: 'phase-start', phase: 'rl', index: 1, kind: 'rl', steps: 10, batch: 8 },
      { type: 'step', phase: 'rl', step: 5, lr: 0.01, reward: 0.4, rollout: { length: 7, excess: 2.25 } },
      { type: 'step', phase: 'rl', step: 10, lr: 0.01, reward: 0.6, rollout: { length: 6, excess: 1.75 } },
      { type: 'eval', phase: 'rl', step: 10, metrics: metrics(0.6, 0.5) },
      { type: 'phase-end', phase: 'rl', index: 1, metrics: metrics(0.6, 0.5) },
    ];
    const c = curves(plan, log);
    expect(c.heldOutLabel).toBe('held-out accuracy');
    expect(c.boundaries).toEqual([
      { x: 0, phase: 'pre' },
      { x: 20, phase: 'rl' },
    ]);
    expect(c.loss.map((p) => [p.x, p.y])).toEqual([
      [10, 2],
      [20, 1],
    ]);
    expect(c.reward.map((p) => [p.x, p.y])).toEqual([
      [25, 0.4],
      [30, 0.6],
    ]);
    // Held out (greedy answers at each evaluation) and the RL step's own samples, as two series.
    expect(c.length.map((p) => [p.x, p.series, p.y])).toEqual([
      [20, 'excess length', 1.5],
      [25, 'RL samples', 2.25],
      [30, 'RL samples', 1.75],
      [30, 'excess length', 0.5],
    ]);
    const at30 = Object.fromEntries(c.heldOut.filter((p) => p.x === 30).map((p) => [p.series, p.y]));
    expect(at30.all).toBe(0.6);
    expect(at30.forward).toBeCloseTo(0.7, 12);
    expect(at30.inverse).toBeCloseTo(0.5, 12);
    expect(phasesOf(log).map((p) => p.name)).toEqual(['pre', 'rl']);
  });
});
