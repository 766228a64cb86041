/**
 * The command line. `start` (the main job: the default plan), `run` (any plan), `check` (every kernel
 * against the CPU reference on this machine's adapter), `kernel` (list, run on your inputs, check
 * one), `bench` (kernel and training-step speeds), `paper` (the paper's experiments, verdicts and report).
 * User errors print one line and exit 1; anything else is a bug and keeps its stack trace.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { describeAdapter, UserError } from '../device/index.ts';
import { Runtime } from '../gpu/runtime.ts';
import { findKernel, kernels } from '../kernels/registry.ts';
import { parsePlan, defaultPlan } from '../train/plan.ts';
import { EXPERIMENTS, PRESETS, SETTING_NAMES, TARGET_NAMES } from '../paper/protocol.ts';
import { runBench } from './bench.ts';
import { useCachedTuning } from './tuning.ts';
import { mergePaperCli, paperOptions, renderPaperCli, runPaperCli, runPaperJobs, unitCount } from './paper.ts';
import { readJsonFile } from './io.ts';
import { checkNewOut, faultsFromEnv, loadCheckpoint, runPlanCli } from './run.ts';
import { type CheckLine, checkOne, formatCheck, listKernels, parseDims, runKernelFile } from './kernel.ts';

function integer(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return n;
  };
}

function positiveNumber(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number, e.g. 67`);
    return n;
  };
}

/** `paper --jobs`: 'auto' or a number of processes at once, at least 1. */
function jobsOption(v: string): number | 'auto' {
  if (v === 'auto') return v;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`--jobs must be auto or a whole number of processes at once, at least 1; got "${v}"`);
  return n;
}

/** A comma-separated list of seeds (positive integers), as `--drop-seeds 1,4`. */
function seedsOption(name: string) {
  return (v: string): number[] => {
    const parts = v.split(',').map((x) => x.trim());
    const seeds = parts.map(Number);
    if (!parts.length || parts.some((x, i) => x === '' || !Number.isInteger(seeds[i]) || seeds[i] < 1))
      throw new InvalidArgumentError(`${name} takes comma-separated seeds, positive integers (e.g. 1 or 1,4), got "${v}"`);
    return [...new Set(seeds)];
  };
}

async function runtime(): Promise<Runtime> {
  const rt = await Runtime.create();
  console.error(describeAdapter(rt.report));
  const tuned = useCachedTuning(rt);
  if (tuned) console.error(tuned);
  return rt;
}

/** The command line's commands, made afresh for each parse (commander keeps option values between parses). */
function buildProgram(): Command {
  const program = new Command()
    .name('webgpu-train')
    .description('WGSL kernels checked against a CPU reference, in Node (Dawn) and the browser')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('start')
    .description('run the default plan (pretrain -> small hard SFT -> medium-band RL) and print the held-out metrics per phase')
    .option('--out <dir>', 'also write metrics.jsonl, selections.json and summary.json here')
    .option('--overwrite', 'replace the run already in --out (otherwise refused: nothing of it is lost)')
    .action(async (opts: { out?: string; overwrite?: boolean }) => {
      checkNewOut(opts.out, opts.overwrite === true);
      const faults = faultsFromEnv();
      const rt = await runtime();
      await runPlanCli(rt, defaultPlan, opts.out, { faults, acquire: runtime });
    });

  program
    .command('run')
    .description(
      'run a plan: --plan plan.json (see src/train/plan.ts for the fields and defaults), or continue one: --resume DIR',
    )
    .option('--plan <file>', 'the plan, JSON')
    .option('--out <dir>', 'write metrics.jsonl, selections.json, summary.json, metrics.csv and checkpoint.bin here')
    .option('--resume <dir>', 'continue the run whose --out was DIR from its last checkpoint (the plan is in the checkpoint)')
    .option('--checkpoint-every <n>', 'steps between checkpoints within a phase (with --out)', integer('--checkpoint-every'), 50)
    .option('--init-from <dir>', "start from the parameters in DIR's checkpoint (another run's, same model shape)")
    .option('--overwrite', 'replace the run already in --out (otherwise refused: nothing of it is lost)')
    .action(
      async (opts: {
        plan?: string;
        out?: string;
        resume?: string;
        checkpointEvery: number;
        initFrom?: string;
        overwrite?: boolean;
      }) => {
        if (!opts.plan === !opts.resume)
          throw new UserError('run: give --plan FILE (a new run) or --resume DIR (continue one), not both');
        if (opts.initFrom && opts.resume)
          throw new UserError('run: --init-from starts a new run; a resumed run already has its parameters');
        if (opts.checkpointEvery < 1) throw new UserError('--checkpoint-every must be at least 1');
        if (opts.overwrite && opts.resume)
          throw new UserError('run: --overwrite is for a new run; --resume continues the run in DIR');
        if (!opts.resume) checkNewOut(opts.out, opts.overwrite === true);
        const resume = opts.resume ? await loadCheckpoint(opts.resume) : undefined;
        const plan = resume ? resume.plan : parsePlan(readJsonFile(opts.plan as string, 'plan file'));
        const initFrom = opts.initFrom ? await loadCheckpoint(opts.initFrom, '--init-from') : undefined;
        const faults = faultsFromEnv();
        const rt = await runtime();
        await runPlanCli(rt, plan, opts.out ?? opts.resume, {
          checkpointEvery: opts.checkpointEvery,
          resume,
          initFrom,
          faults,
          acquire: runtime,
        });
      },
    );

  program
    .command('check')
    .description('check every kernel on this adapter against the CPU reference and print the errors')
    .option('--seed <n>', 'seed for the random inputs', integer('--seed'), 1)
    .action(async (opts: { seed: number }) => {
      const rt = await runtime();
      const lines: CheckLine[] = [];
      for (const entry of kernels) {
        const line = await checkOne(rt, entry, { seed: opts.seed });
        lines.push(line);
        console.log(formatCheck([line]));
      }
      const failed = lines.filter((l) => !l.ok);
      console.log(
        failed.length === 0
          ? `all ${lines.length} kernels match the CPU reference`
          : `${failed.length} of ${lines.length} kernels do not match the CPU reference: ${failed.map((l) => l.kernel).join(', ')}`,
      );
      if (failed.length) process.exitCode = 1;
    });

  program
    .command('fuzz')
    .description(
      'check kernels against the CPU reference on many seeded random shapes (1, primes, near powers of two, one size near a device limit scaled down)',
    )
    .option('--seed <n>', 'seed for the shapes, options and inputs', integer('--seed'), 1)
    .option('--shapes <n>', 'checked shapes per kernel', integer('--shapes'), 500)
    .option('--kernel <names>', 'comma-separated subset of the kernels (default: all)')
    .option('--work <n>', "cap on a shape's work (about the product of its sizes) for most draws", integer('--work'), 1 << 10)
    .option('--large-work <n>', 'the cap for draws with one size near a device limit', integer('--large-work'), 1 << 13)
    .action(async (opts: { seed: number; shapes: number; kernel?: string; work: number; largeWork: number }) => {
      const { formatFuzzSummary, formatKernelFuzz, fuzz } = await import('../kernels/fuzz.ts');
      if (opts.shapes < 1) throw new UserError('--shapes must be at least 1');
      if (opts.work < 1 || opts.largeWork < 1) throw new UserError('--work and --large-work must be at least 1');
      const entries = opts.kernel ? [...new Set(opts.kernel.split(',').map((s) => s.trim()))].map(findKernel) : kernels;
      const rt = await runtime();
      const report = await fuzz(
        rt,
        entries,
        { seed: opts.seed, shapes: opts.shapes, work: opts.work, largeWork: opts.largeWork },
        (r) => console.log(formatKernelFuzz(r)),
      );
      console.log(formatFuzzSummary(report));
      if (report.failures.length) process.exitCode = 1;
    });

  program
    .command('kernel')
    .description('run one kernel on your inputs (--input/--output), check it (--check), or list all (--list)')
    .argument('[name]', 'kernel name (see --list)')
    .option('--list', 'list every kernel with its inputs, options and outputs')
    .option('--input <file>', 'JSON: {"inputs": {"a": {"shape": [M, K], "data": [...]}, ...}, "options": {...}}')
    .option('--output <file>', 'where to write {"outputs": {...}, "adapter": {...}}')
    .option('--check', 'run on seeded random inputs and compare with the CPU reference')
    .option('--dims <list>', 'sizes for --check, e.g. M=64,N=32,K=17')
    .option('--options <json>', 'kernel options for --check, e.g. \'{"transB": true}\'')
    .option('--seed <n>', 'seed for --check inputs', integer('--seed'), 1)
    .action(
      async (
        name: string | undefined,
        opts: { list?: boolean; input?: string; output?: string; check?: boolean; dims?: string; options?: string; seed: number },
      ) => {
        if (opts.list) {
          console.log(listKernels());
          return;
        }
        if (!name) throw new UserError('kernel: give a kernel name (see `kernel --list`) or --list');
        const entry = findKernel(name);
        if (opts.check) {
          if (opts.input || opts.output) throw new UserError('kernel: --check makes its own inputs; leave out --input/--output');
          let options: unknown;
          if (opts.options) {
            try {
              options = JSON.parse(opts.options);
            } catch (e) {
              throw new UserError(`--options is not valid JSON: ${(e as Error).message}`);
            }
          }
          const dims = opts.dims ? parseDims(entry, opts.dims) : undefined;
          const rt = await runtime();
          const line = await checkOne(rt, entry, { seed: opts.seed, dims, options: options as Record<string, unknown> });
          console.log(formatCheck([line]));
          if (!line.ok) process.exitCode = 1;
          return;
        }
        if (!opts.input || !opts.output) {
          throw new UserError(`kernel ${name}: give --input FILE and --output FILE, or --check (see --help)`);
        }
        await runKernelFile(runtime, entry, opts.input, opts.output);
        console.error(`wrote ${opts.output}`);
      },
    );

  program
    .command('bench')
    .description(
      'time kernels and a training step per model preset on this adapter, against the CPU reference and tfjs-backend-webgpu (same device, same run)',
    )
    .option('--json <file>', 'also write the results as JSON')
    .option('--repeats <n>', 'timed repeats per figure', integer('--repeats'), 5)
    .option('--quick', 'only the smaller shapes')
    .option('--large', 'also matmul 4096³ (for real GPUs; checked against the reference on a sample of entries)')
    .option('--no-train', 'leave out the training steps per model preset')
    .option('--no-peer', 'leave out tfjs-backend-webgpu')
    .option('--tune', 'first choose the fastest correct matmul variant per shape class on this adapter and cache it')
    .option('--require-gpu', 'stop unless the adapter is a real GPU (not a CPU fallback such as SwiftShader)')
    .option(
      '--peak-tflops <x>',
      "the card's f32 peak in TFLOP/s, for the square products' fraction of it (default: NVIDIA's datasheet figure for the adapter's name, where known)",
      positiveNumber('--peak-tflops'),
    )
    .action(
      async (opts: {
        json?: string;
        repeats: number;
        quick?: boolean;
        large?: boolean;
        train: boolean;
        peer: boolean;
        tune?: boolean;
        requireGpu?: boolean;
        peakTflops?: number;
      }) => {
        if (opts.repeats < 1) throw new UserError('--repeats must be at least 1');
        const rt = await runtime();
        if (opts.requireGpu && rt.report.isFallbackAdapter) {
          rt.destroy();
          throw new UserError(
            'bench --require-gpu: the adapter is a CPU fallback, not a GPU. On Linux with an NVIDIA GPU: install the driver and libvulkan1; Dawn finds the driver through /dev/nvidia0 (or set VK_ICD_FILENAMES to its nvidia_icd.json)',
          );
        }
        await runBench(rt, opts);
      },
    );

  program
    .command('paper')
    .description("run the paper's experiments; write results.json, report.html and SVG plots to --out")
    .option('--out <dir>', 'where the results go', 'results/paper')
    .option('--only <experiments>', `comma-separated subset of: ${EXPERIMENTS.join(', ')}`)
    .option('--seeds <n>', "number of seeds (default: the preset's)", integer('--seeds'))
    .option(
      '--first-seed <k>',
      'number the seeds from k (default 1): e.g. --first-seed 4 --seeds 3 runs seeds 4, 5, 6',
      integer('--first-seed'),
    )
    .option('--preset <name>', `scale: ${PRESETS.join(' | ')}`, 'small')
    .option('--target <name>', `post-training target: ${TARGET_NAMES.join(' | ')} (see src/paper/protocol.ts)`, 'rare')
    .option(
      '--settings <names>',
      `comma-separated subset of: ${SETTING_NAMES.join(', ')} (A: in-context weight prediction; B: the token task); default both`,
      SETTING_NAMES.join(','),
    )
    .option(
      '--budgets <short,long|none>',
      "experiment 3 also post-trains with SFT steps and RL updates times these factors, balanced vs imbalanced at each budget (setting A's small and full presets: 0.25,4, setting A took 11 minutes here with them and about 7 without, in one process before Node ran without robustness checks; none: leave them out)",
    )
    .option(
      '--pretrain-factor <f>',
      "every pretraining f times as long as the preset's (both settings; matched-start snapshots as many times as far apart), e.g. 3: setting B's 800 steps become 2400",
    )
    .option(
      '--start-error <e>',
      'experiments 1 and 2 start each seed from the balanced pretraining snapshot whose validation target error is closest to e (0 < e < 1; default: the end of pretraining), e.g. 0.5: a rare variant half learned',
    )
    .option(
      '--snapshot-every <steps>',
      "balanced pretraining snapshots every this many steps (default: the preset's, times --pretrain-factor), for experiment 3's matched start and --start-error (setting A's ICL transformer keeps its own, a tenth of its pretraining)",
    )
    .option(
      '--sft-difficulty <score>',
      "how every SFT selection ranks its pool for hardest / easiest: loss (the default: the pretrained model's error on each example) or pass-rate (1 - its pass rate over sampled answers, as experiment 2's bands)",
    )
    .option(
      '--jobs <n|auto>',
      'run the seeds (and settings) in n processes at once, one per setting and seed, joined into the results one process gives (the same rows, learning rates and verdicts); auto, the default: one per CPU core, at most one per setting and seed (on 2 cores the default run took 16 minutes this way; one process would take about 20); 1: everything in this process',
      jobsOption,
      'auto',
    )
    .option('--render <dir>', 'run nothing: draw the report again from DIR/results.json')
    .option(
      '--merge <dirs>',
      'run nothing: pool comma-separated result folders of one protocol (e.g. seeds 1-3 and 4-6) into --out, choosing learning rates and verdicts over all their seeds (with --only: just those experiments)',
    )
    .option(
      '--drop-seeds <seeds>',
      "with --merge: leave these seeds' rows out of the pool (e.g. a seed whose test set was looked at while the protocol was chosen); the pooled protocol names them",
      seedsOption('--drop-seeds'),
    )
    .action(
      async (
        opts: {
          out: string;
          only?: string;
          seeds?: number;
          firstSeed?: number;
          preset: string;
          target: string;
          settings: string;
          budgets?: string;
          pretrainFactor?: string;
          startError?: string;
          snapshotEvery?: string;
          sftDifficulty?: string;
          jobs: number | 'auto';
          render?: string;
          merge?: string;
          dropSeeds?: number[];
        },
        cmd: Command,
      ) => {
        if (opts.render && opts.merge) throw new UserError('--render and --merge cannot be combined; use one');
        if (opts.dropSeeds && !opts.merge)
          throw new UserError('--drop-seeds works with --merge only (it leaves seeds out of a pool)');
        if (opts.render || opts.merge) {
          // These shape a run; --render and --merge run nothing, so a given one would be ignored.
          const runOnly = [
            'seeds',
            'firstSeed',
            'preset',
            'target',
            'settings',
            'budgets',
            'pretrainFactor',
            'startError',
            'snapshotEvery',
            'sftDifficulty',
            'jobs',
          ];
          const given = runOnly.filter((name) => cmd.getOptionValueSource(name) === 'cli');
          if (given.length)
            throw new UserError(
              `${given.map((name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} ${given.length > 1 ? 'have' : 'has'} no effect with ${opts.render ? '--render' : '--merge'}, which runs nothing; leave ${given.length > 1 ? 'them' : 'it'} out`,
            );
        }
        if (opts.render) return renderPaperCli(opts.render);
        if (opts.merge) {
          // The default --out is the default run's folder: a pooled set must name its own.
          if (cmd.getOptionValueSource('out') === 'default')
            throw new UserError('--merge needs --out DIR, a folder for the pooled set (not the default results/paper)');
          return mergePaperCli(opts.merge, opts.out, opts.only ? paperOptions(opts).experiments : undefined, opts.dropSeeds);
        }
        const parsed = paperOptions(opts);
        const jobs = Math.min(opts.jobs === 'auto' ? availableParallelism() : opts.jobs, unitCount(parsed));
        if (jobs > 1) return runPaperJobs(opts.out, parsed, jobs);
        const rt = await runtime();
        await runPaperCli(rt, opts.out, parsed);
      },
    );
  return program;
}

/**
 * Run the command line on `argv` (process.argv's layout: node, script, arguments). User errors print
 * one line and set process.exitCode to 1; anything else is a bug and is thrown with its stack.
 */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has already printed its message (unknown option, missing argument, --help).
      process.exitCode = e.exitCode;
      return;
    }
    if (e instanceof UserError) {
      console.error(`error: ${e.message}`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
}

// Run when this file is the program (`tsx src/cli/main.ts ...`), not when a test imports main().
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main(process.argv);
