/** Node only: run a plan on a fresh device and return the held-out metrics after each phase. */
import { Runtime } from '../gpu/runtime.ts';
import { runPlan } from './scheduler.ts';

export async function runPlanHeadless(plan: unknown) {
  const rt = await Runtime.create();
  try {
    return { adapter: rt.report, phases: await runPlan(rt, plan) };
  } finally {
    rt.destroy();
  }
}
