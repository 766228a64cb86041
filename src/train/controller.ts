/**
 * The run controller: what the demo page drives (and what Node can drive the same way). It owns one
 * Runtime, runs plans with the scheduler, and adds what an interactive run needs on top:
 * - pause, resume and stop between steps (a pause or a stop saves a checkpoint first);
 * - a checkpoint store (IndexedDB in the page) holding the latest checkpoint and the run's event log
 *   up to it, saved together, so after a reload the run resumes with its charts intact;
 * - a lost device: reported, a new device acquired, the pipelines and buffers rebuilt (the scheduler
 *   makes them afresh) and the run resumed from its last checkpoint, a few times at most;
 * - finished runs kept (in the same store) so the page can compare them after a reload.
 * Listeners get the scheduler's events, the run's state, and a `log-reset` when the log is replaced
 * (a new run, a resume). No UI code here.
 */
import type { AdapterReport } from '../device/index.ts';
import { isDeviceLoss, Runtime } from '../gpu/runtime.ts';
import { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from './checkpoint.ts';
import { type Plan, parsePlan } from './plan.ts';
import { type PhaseResult, type RunControl, type RunEvent, RunStopped, runPlan } from './scheduler.ts';
import type { CheckpointStore } from './store.ts';

export type RunState =
  | { state: 'idle' }
  | { state: 'running' }
  /** Asked to pause or stop; takes effect before the next step. */
  | { state: 'pausing' }
  | { state: 'stopping' }
  | { state: 'paused'; phase: string; step: number; saved: boolean }
  | { state: 'stopped'; phase: string; step: number }
  /** The device was lost; a new one is being acquired and the run resumed from its last checkpoint. */
  | { state: 'recovering'; message: string }
  | { state: 'done'; phases: PhaseResult[] }
  /** `resumable`: a checkpoint of this run is saved and resume() continues from it. */
  | { state: 'failed'; message: string; resumable: boolean };

export type ControllerEvent =
  | { type: 'state'; status: RunState }
  | { type: 'run'; event: RunEvent }
  /** The log was replaced: a new run (empty), or a resumed run (its events up to the checkpoint). */
  | { type: 'log-reset'; plan: Plan; log: readonly RunEvent[] };

/** A run saved in the store: its plan, where it stands, and its events up to there. */
export interface SavedRun {
  plan: Plan;
  phase: number;
  step: number;
  globalStep: number;
  log: RunEvent[];
  checkpoint: Checkpoint;
}

/** A finished run kept for comparison. */
export interface KeptRun {
  id: string;
  name: string;
  finishedAt: string;
  plan: Plan;
  adapter: AdapterReport;
  phases: PhaseResult[];
  log: RunEvent[];
}

export interface ControllerOptions {
  store: CheckpointStore;
  /** How to get a device (default Runtime.create); called again after a device loss. */
  acquire?: () => Promise<Runtime>;
  /** Checkpoint every this many steps within a phase (and at each phase's end). Default 20. */
  checkpointEvery?: number;
  /** Read the loss back every this many steps. Default 5. */
  logEvery?: number;
  /** Device losses recovered from automatically per run before giving up. Default 3. */
  maxRecoveries?: number;
  /** Keep each finished run in the store (keptRuns()), for comparison. Default false. */
  keepFinished?: boolean;
}

const KEY_CHECKPOINT = 'current.checkpoint';
const KEY_LOG = 'current.log';
const KEY_KEPT = 'kept-runs';

const BUSY: RunState['state'][] = ['running', 'pausing', 'stopping', 'paused', 'recovering'];

const encodeJson = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const decodeJson = <T>(b: Uint8Array): T => JSON.parse(new TextDecoder().decode(b)) as T;
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class RunController {
  private readonly listeners = new Set<(e: ControllerEvent) => void>();
  private rt: Runtime | undefined;
  private acquiring: Promise<Runtime> | undefined;
  private current: RunState = { state: 'idle' };
  private plan: Plan | undefined;
  private log: RunEvent[] = [];
  private request: 'go' | 'pause' | 'stop' = 'go';
  private wake: ((v: 'go' | 'stop') => void) | undefined;
  /** The adapter of the last device acquired. */
  adapter: AdapterReport | undefined;

  constructor(private readonly opts: ControllerOptions) {}

  /** Listen to the controller; returns the function that stops listening. */
  subscribe(fn: (e: ControllerEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get status(): RunState {
    return this.current;
  }

  get busy(): boolean {
    return BUSY.includes(this.current.state);
  }

  /** The events of the current run (a resumed run's include those before its checkpoint). */
  get events(): readonly RunEvent[] {
    return this.log;
  }

  get currentPlan(): Plan | undefined {
    return this.plan;
  }

  /** The device: acquired on first use, and again after a loss. */
  async runtime(): Promise<Runtime> {
    if (this.rt && !this.rt.isLost) return this.rt;
    if (!this.acquiring) {
      const acquire = this.opts.acquire ?? (() => Runtime.create());
      this.acquiring = acquire().then(
        (rt) => {
          this.rt = rt;
          this.adapter = rt.report;
          this.acquiring = undefined;
          return rt;
        },
        (e) => {
          this.acquiring = undefined;
          throw e;
        },
      );
    }
    return this.acquiring;
  }

  /**
   * Start a new run (the plan is validated first: a PlanError names each invalid field). A saved
   * run is discarded. Resolves when the run ends (done, stopped or failed: see `status`).
   */
  async start(planInput: unknown): Promise<void> {
    this.assertIdle();
    const plan = parsePlan(planInput);
    await this.discardSaved();
    this.resetLog(plan, []);
    await this.execute(plan, undefined);
  }

  /** The saved run, if any. A corrupted or truncated one throws a CheckpointError. */
  async saved(): Promise<SavedRun | undefined> {
    const bytes = await this.opts.store.load(KEY_CHECKPOINT);
    if (!bytes) return undefined;
    const checkpoint = await decodeCheckpoint(bytes, 'the saved checkpoint');
    const logBytes = await this.opts.store.load(KEY_LOG);
    const log = logBytes ? decodeJson<RunEvent[]>(logBytes) : [];
    const { plan, phase, step, globalStep } = checkpoint;
    return { plan, phase, step, globalStep, log, checkpoint };
  }

  /**
   * Show the saved run without running it (after a reload): its plan and its events up to the
   * checkpoint become the controller's, announced with a log-reset. Only while idle.
   */
  async showSaved(): Promise<SavedRun | undefined> {
    if (this.busy) return undefined;
    const saved = await this.saved();
    if (saved) this.resetLog(saved.plan, saved.log);
    return saved;
  }

  /** Forget the saved run. */
  async discardSaved(): Promise<void> {
    await this.opts.store.remove(KEY_CHECKPOINT);
    await this.opts.store.remove(KEY_LOG);
  }

  /**
   * Continue: a paused run goes on; a stopped or failed run (or one saved before a reload) resumes
   * from its saved checkpoint.
   */
  async resume(): Promise<void> {
    if (this.current.state === 'paused' || this.current.state === 'pausing') {
      this.request = 'go';
      this.wake?.('go');
      this.wake = undefined;
      this.setState({ state: 'running' });
      return;
    }
    this.assertIdle();
    const saved = await this.saved();
    if (!saved) throw new Error('there is no saved run to resume: start a run');
    this.resetLog(saved.plan, saved.log);
    await this.execute(saved.plan, saved.checkpoint);
  }

  /** Pause before the next step (after saving a checkpoint). */
  pause(): void {
    if (this.current.state !== 'running') return;
    this.request = 'pause';
    this.setState({ state: 'pausing' });
  }

  /** Stop before the next step (after saving a checkpoint, so the run can be resumed later). */
  stop(): void {
    if (this.current.state === 'paused') {
      this.request = 'stop';
      this.setState({ state: 'stopping' });
      this.wake?.('stop');
      this.wake = undefined;
    } else if (this.current.state === 'running' || this.current.state === 'pausing') {
      this.request = 'stop';
      this.setState({ state: 'stopping' });
    }
  }

  /** Finished runs kept in the store, oldest first. */
  async keptRuns(): Promise<KeptRun[]> {
    const bytes = await this.opts.store.load(KEY_KEPT);
    return bytes ? decodeJson<KeptRun[]>(bytes) : [];
  }

  async keepRun(run: KeptRun): Promise<void> {
    const runs = (await this.keptRuns()).filter((r) => r.id !== run.id);
    await this.opts.store.save(KEY_KEPT, encodeJson([...runs, run]));
  }

  async forgetRun(id: string): Promise<void> {
    await this.opts.store.save(KEY_KEPT, encodeJson((await this.keptRuns()).filter((r) => r.id !== id)));
  }

  /** Release the device. */
  destroy(): void {
    this.rt?.destroy();
    this.rt = undefined;
  }

  private assertIdle(): void {
    if (this.busy) throw new Error(`a run is ${this.current.state}: stop it first`);
  }

  private emit(e: ControllerEvent): void {
    for (const fn of this.listeners) fn(e);
  }

  private setState(status: RunState): void {
    this.current = status;
    this.emit({ type: 'state', status });
  }

  private resetLog(plan: Plan, log: RunEvent[]): void {
    this.plan = plan;
    this.log = [...log];
    this.emit({ type: 'log-reset', plan, log: [...this.log] });
  }

  private readonly control: RunControl = {
    request: () => this.request,
    paused: () =>
      // resume() or stop() may have come while the checkpoint was being saved.
      this.request === 'pause' ? new Promise((resolve) => (this.wake = resolve)) : Promise.resolve(this.request),
  };

  private onRunEvent(e: RunEvent): void {
    this.log.push(e);
    this.emit({ type: 'run', event: e });
    if (e.type === 'paused' && this.request === 'pause') {
      this.setState({ state: 'paused', phase: e.phase, step: e.step, saved: e.saved });
    }
  }

  private async saveCheckpoint(c: Checkpoint): Promise<void> {
    // The checkpoint and the log up to it, in one write: a reload sees both or neither.
    await this.opts.store.saveMany({ [KEY_CHECKPOINT]: await encodeCheckpoint(c), [KEY_LOG]: encodeJson(this.log) });
  }

  private async execute(plan: Plan, resume: Checkpoint | undefined): Promise<void> {
    this.request = 'go';
    this.setState({ state: 'running' });
    let from = resume;
    let recoveries = 0;
    for (;;) {
      let rt: Runtime | undefined;
      try {
        rt = await this.runtime();
        const phases = await runPlan(rt, plan, (e) => this.onRunEvent(e), {
          logEvery: this.opts.logEvery ?? 5,
          checkpointEvery: this.opts.checkpointEvery ?? 20,
          onCheckpoint: (c) => this.saveCheckpoint(c),
          control: this.control,
          resume: from,
        });
        await this.discardSaved();
        if (this.opts.keepFinished) {
          const finishedAt = new Date().toISOString();
          await this.keepRun({
            id: `${plan.name}-${finishedAt}`,
            name: plan.name,
            finishedAt,
            plan,
            adapter: rt.report,
            phases,
            log: [...this.log],
          });
        }
        this.setState({ state: 'done', phases });
        return;
      } catch (e) {
        if (e instanceof RunStopped) {
          this.setState({ state: 'stopped', phase: plan.phases[e.phase]?.name ?? '', step: e.step });
          return;
        }
        const lost = await isDeviceLoss(e, rt);
        const saved = await this.saved().catch(() => undefined);
        if (lost && recoveries < (this.opts.maxRecoveries ?? 3)) {
          recoveries++;
          this.rt = undefined;
          const where = saved
            ? `its checkpoint at phase ${plan.phases[saved.phase]?.name ?? 'end'}, step ${saved.step}`
            : 'the start';
          this.setState({
            state: 'recovering',
            message: `The GPU device was lost (${messageOf(e)}). Acquiring a new device and resuming from ${where}.`,
          });
          from = saved?.checkpoint;
          this.resetLog(plan, saved?.log ?? []);
          continue;
        }
        if (lost) this.rt = undefined;
        this.setState({
          state: 'failed',
          message: lost ? `The GPU device was lost: ${messageOf(e)}` : messageOf(e),
          resumable: saved !== undefined,
        });
        return;
      }
    }
  }
}
