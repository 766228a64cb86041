/**
 * The run controller (what the demo page drives), in Node and in Chromium: pause and resume, stop and
 * resume from the saved checkpoint, and a device lost mid-run: each ends with exactly the metrics of
 * an uninterrupted run, and the event log survives.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../src/gpu/runtime.ts';
import { type ControllerEvent, RunController } from '../src/train/controller.ts';
import { type PlanInput, parsePlan } from '../src/train/plan.ts';
import { curves } from '../src/train/curves.ts';
import { type PhaseResult, runPlan } from '../src/train/scheduler.ts';
import { metricsCsv } from '../src/train/results.ts';
import { memoryStore } from '../src/train/store.ts';
import { mseOf } from './helpers.ts';
import { getTestRuntime } from './runtime.ts';

const plan: PlanInput = {
  seed: 21,
  task: { kind: 'regression', d: 4, n: 16, head: 2 },
  batch: 16,
  eval: { size: 32, every: 10 },
  phases: [
    { name: 'pretrain', kind: 'pretrain', steps: 30, lr: 0.02 },
    { name: 'sft', kind: 'sft', pool: 64, select: { rule: 'hardest', m: 8 }, steps: 10, lr: 0.005 },
    { name: 'rl', kind: 'rl', pool: 64, select: { rule: 'band', m: 32, band: 'medium' }, steps: 10, lr: 0.005, group: 4 },
  ],
};

let want: number[];
beforeAll(async () => {
  want = (await runPlan(await getTestRuntime(), plan)).map((r) => mseOf(r.metrics));
});

const mses = (phases: PhaseResult[]) => phases.map((r) => mseOf(r.metrics));
const done = (c: RunController) => {
  const s = c.status;
  if (s.state !== 'done') throw new Error(`run ended ${s.state}: ${JSON.stringify(s)}`);
  return mses(s.phases);
};

describe('RunController', () => {
  it('pauses (saving a checkpoint), resumes, and ends with the uninterrupted metrics', async () => {
    const c = new RunController({ store: memoryStore(), acquire: getTestRuntime, checkpointEvery: 100, keepFinished: true });
    const states: string[] = [];
    c.subscribe((e) => {
      if (e.type === 'state') states.push(e.status.state);
      if (e.type === 'run' && e.event.type === 'step' && e.event.phase === 'pretrain' && e.event.step === 10) c.pause();
      if (e.type === 'state' && e.status.state === 'paused') setTimeout(() => void c.resume(), 20);
    });
    await c.start(plan);
    expect(done(c)).toEqual(want);
    expect(states).toEqual(['running', 'pausing', 'paused', 'running', 'done']);
    const paused = c.events.find((e) => e.type === 'paused');
    expect(paused).toMatchObject({ phase: 'pretrain', step: 10, saved: true });
    // A finished run leaves nothing to resume, and is kept for comparison with its whole log.
    expect(await c.saved()).toBeUndefined();
    const kept = await c.keptRuns();
    expect(kept.map((r) => [r.name, mses(r.phases)])).toEqual([['plan', want]]);
    expect(kept[0].log.length).toBe(c.events.length);
    await c.forgetRun(kept[0].id);
    expect(await c.keptRuns()).toEqual([]);
  });

  it('stops with a checkpoint; a new controller on the same store (a reload) resumes it with its log', async () => {
    const store = memoryStore();
    const first = new RunController({ store, acquire: getTestRuntime, checkpointEvery: 100 });
    first.subscribe((e) => {
      if (e.type === 'run' && e.event.type === 'phase-start' && e.event.phase === 'sft') first.stop();
    });
    await first.start(plan);
    expect(first.status).toEqual({ state: 'stopped', phase: 'sft', step: 0 });
    const stepsBefore = first.events.filter((e) => e.type === 'step').length;

    const second = new RunController({ store, acquire: getTestRuntime });
    const saved = await second.saved();
    expect(saved).toMatchObject({ phase: 1, step: 0, globalStep: 30 });
    expect(saved?.log.filter((e) => e.type === 'step').length).toBe(stepsBefore);
    let reset: readonly unknown[] | undefined;
    second.subscribe((e: ControllerEvent) => {
      if (e.type === 'log-reset') reset = e.log;
    });
    // Shown before it runs (the page after a reload): the saved plan and events, nothing running.
    expect((await second.showSaved())?.step).toBe(0);
    expect(second.events.length).toBe(saved?.log.length);
    expect(second.status.state).toBe('idle');
    await second.resume();
    expect(done(second)).toEqual(want);
    expect(reset?.length).toBe(saved?.log.length);
    // As curves against the global step: one point per logged step (the resumed run's repeated
    // phase start is not a second boundary), evaluations per domain.
    const c = curves(parsePlan(plan), second.events);
    expect(c.boundaries).toEqual([
      { x: 0, phase: 'pretrain' },
      { x: 30, phase: 'sft' },
      { x: 40, phase: 'rl' },
    ]);
    expect(c.loss.map((p) => p.x)).toEqual([5, 10, 15, 20, 25, 30, 35, 40]);
    expect(c.reward.map((p) => p.x)).toEqual([45, 50]);
    expect(new Set(c.heldOut.map((p) => p.series))).toEqual(new Set(['all', 'head', 'tail']));
    expect(c.heldOut.filter((p) => p.series === 'all').map((p) => p.x)).toEqual([10, 20, 30, 40, 50]);
    expect(c.length).toEqual([]);
    // The log holds the pretraining steps from before the stop and the rest after it.
    expect(second.events.filter((e) => e.type === 'phase-end').map((e) => (e as { phase: string }).phase)).toEqual([
      'pretrain',
      'sft',
      'rl',
    ]);
  });

  it('a device lost mid-run is reported, replaced, and the run resumes from its last checkpoint', async () => {
    const devices: Runtime[] = [];
    const c = new RunController({
      store: memoryStore(),
      acquire: async () => {
        const rt = await Runtime.create();
        devices.push(rt);
        return rt;
      },
      checkpointEvery: 10,
    });
    const states: string[] = [];
    const messages: string[] = [];
    let lostOnce = false;
    c.subscribe((e) => {
      if (e.type === 'state') states.push(e.status.state);
      if (e.type === 'state' && e.status.state === 'recovering') messages.push(e.status.message);
      if (e.type === 'run' && e.event.type === 'checkpoint' && e.event.step === 20 && !lostOnce) {
        lostOnce = true;
        devices[0].device.destroy();
      }
    });
    await c.start(plan);
    expect(done(c)).toEqual(want);
    expect(states).toEqual(['running', 'recovering', 'done']);
    expect(messages).toEqual([expect.stringMatching(/device was lost.*checkpoint at phase pretrain, step 20/s)]);
    expect(devices.length).toBe(2);
    c.destroy();
  });

  it('refuses to start an invalid plan, naming the field', async () => {
    const c = new RunController({ store: memoryStore(), acquire: getTestRuntime });
    await expect(c.start({ ...plan, batch: 0 })).rejects.toThrow(/batch: must be >= 1/);
    expect(c.status.state).toBe('idle');
  });
});

describe('metricsCsv (the results table of the command line and the page)', () => {
  it('quotes fields that need it and writes non-finite values by name', () => {
    const csv = metricsCsv([
      { type: 'step', phase: 'sft, "hard"', step: 5, lr: 0.01, loss: Number.NaN },
      { type: 'step', phase: 'rl', step: 5, lr: 0.01, reward: -0.5 },
    ]);
    expect(csv).toBe('event,phase,step,lr,loss,reward\nstep,"sft, ""hard""",5,0.01,nan,\nstep,rl,5,0.01,,-0.5\n');
  });

  it("adds the RL samples' length and excess chain length when the steps carry them", () => {
    const csv = metricsCsv([
      { type: 'step', phase: 'sft', step: 5, lr: 0.01, loss: 1.5 },
      { type: 'step', phase: 'rl', step: 5, lr: 0.01, reward: 0.25, rollout: { length: 6.5, excess: -0.75 } },
    ]);
    expect(csv).toBe(
      'event,phase,step,lr,loss,reward,sample length,sample excess\nstep,sft,5,0.01,1.5,,,\nstep,rl,5,0.01,,0.25,6.5,-0.75\n',
    );
  });
});
