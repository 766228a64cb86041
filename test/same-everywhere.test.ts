/**
 * The same plan and seed in headless Chromium and in Node (Dawn) give the same held-out metrics
 * per phase, within a stated tolerance. Runs in the browser project (it asks the vitest Node process
 * to run the plan through a browser command); in the Node project there is nothing to compare.
 */
import { describe, expect, it } from 'vitest';
import { isNode } from '../src/device/index.ts';
import type { PlanInput } from '../src/train/plan.ts';
import { runPlan } from '../src/train/scheduler.ts';
import { getTestRuntime } from './runtime.ts';
import { mseOf } from './helpers.ts';

const plan: PlanInput = {
  seed: 5,
  task: { kind: 'regression', d: 4, n: 16, head: 2 },
  batch: 32,
  eval: { size: 64, every: 100 },
  phases: [
    { name: 'pretrain', kind: 'pretrain', steps: 30, lr: 0.02 },
    { name: 'sft', kind: 'sft', pool: 128, select: { rule: 'hardest', m: 16 }, steps: 10, lr: 0.005 },
    { name: 'rl', kind: 'rl', pool: 128, select: { rule: 'band', m: 32, band: [0.25, 0.75] }, steps: 10, lr: 0.005 },
  ],
};

/**
 * Both run SwiftShader, but through different builds (Dawn's in Node, Chromium's in the page), whose
 * transcendental functions may round differently; on this machine the metrics came out bit for bit
 * equal, and the test allows 1e-4 relative for other builds and adapters.
 */
const RTOL = 1e-4;

describe.skipIf(isNode)('the same plan in Chromium and in Node', () => {
  it('gives the same held-out metrics after each phase', async () => {
    const { commands } = (await import('vitest/browser')).server as unknown as {
      commands: { runPlanInNode: (p: unknown) => Promise<{ phases: { name: string; metrics: { mse: number } }[] }> };
    };
    const node = await commands.runPlanInNode(plan);
    const browser = await runPlan(await getTestRuntime(), plan);
    expect(browser.map((p) => p.name)).toEqual(node.phases.map((p) => p.name));
    for (const [i, p] of browser.entries()) {
      const n = node.phases[i].metrics.mse;
      expect(Math.abs(mseOf(p.metrics) - n), `${p.name}: browser ${mseOf(p.metrics)} node ${n}`).toBeLessThanOrEqual(
        RTOL * Math.abs(n),
      );
    }
  });

  it('the token suite too: the same verifier metrics after each phase', async () => {
    const pointer: PlanInput = {
      seed: 3,
      task: { kind: 'pointer', nodes: 5, maxHops: 3 },
      model: { kind: 'transformer', dModel: 16, layers: 1, heads: 2 },
      batch: 8,
      eval: { size: 12, every: 1000 },
      phases: [
        { name: 'pretrain', kind: 'pretrain', steps: 10, lr: 0.01 },
        { name: 'sft', kind: 'sft', pool: 24, select: { rule: 'hardest', m: 6 }, steps: 4, lr: 0.003 },
      ],
    };
    const { commands } = (await import('vitest/browser')).server as unknown as {
      commands: { runPlanInNode: (p: unknown) => Promise<{ phases: { name: string; metrics: unknown }[] }> };
    };
    const node = await commands.runPlanInNode(pointer);
    const browser = await runPlan(await getTestRuntime(), pointer);
    expect(browser.map((p) => p.metrics)).toEqual(node.phases.map((p) => p.metrics));
  });
});
