/**
 * The command line as a user runs it: exit codes, messages without stack traces, and output files
 * that are written whole or not at all. Node only (spawns processes).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as ref from '../src/reference/kernels.ts';
import { Rng } from '../src/reference/random.ts';
import { decodeCheckpoint } from '../src/train/checkpoint.ts';

const root = join(import.meta.dirname, '..');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking: the error cases run side by side (each is mostly process start-up). */
function cliAsync(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'webgpu-train-cli-'));

describe('kernel command', () => {
  it('--list names every kernel with inputs, options and outputs', () => {
    const r = cli('kernel', '--list');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^matmul: /m);
    expect(r.stdout).toMatch(/option transB \(boolean, default false\)/);
    expect(r.stdout).toMatch(/^softmax: /m);
    expect(r.stdout).toMatch(/output y \(f32\)/);
  });

  it('runs matmul on a user file and writes outputs and the adapter', () => {
    const input = join(dir, 'mm.json');
    const output = join(dir, 'mm-out.json');
    const a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    const b = [0.5, -1, 2, 0, 1, 1, 3, -2];
    writeFileSync(
      input,
      JSON.stringify({ inputs: { a: { shape: [3, 4], data: a }, b: { shape: [2, 4], data: b } }, options: { transB: true } }),
    );
    const r = cli('kernel', 'matmul', '--input', input, '--output', output);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/adapter: /);
    const out = JSON.parse(readFileSync(output, 'utf8'));
    const want = new Float32Array(6);
    ref.matmul(want, Float32Array.from(a), Float32Array.from(b), null, 1, 3, 2, 4, { transB: true });
    expect(out.outputs.c.shape).toEqual([3, 2]);
    expect(out.outputs.c.data).toEqual(Array.from(want));
    expect(typeof out.adapter.vendor).toBe('string');
  });

  it('--check compares with the CPU reference and prints the errors', () => {
    const r = cli('kernel', 'softmax', '--check', '--dims', 'R=5,N=33', '--options', '{"causal": true, "scale": 0.5}');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok\s+softmax\s+R=5 N=33 \{"causal":true,"scale":0.5\}\s+max abs err \S+\s+rel err/);
  });

  it.concurrent.each([
    [['kernel', 'nosuch', '--check'], /error: unknown kernel "nosuch"; valid kernels: matmul/],
    [['kernel', 'matmul', '--bogus'], /error: unknown option '--bogus'/],
    [['kernel', 'matmul', '--check', '--options', '{"alpha": 2}'], /error: matmul has no option "alpha"/],
    [['kernel', 'matmul'], /error: kernel matmul: give --input FILE and --output FILE, or --check/],
    [['frobnicate'], /error: unknown command 'frobnicate'/],
  ])('%j exits 1 with a one-line message', async (args, message) => {
    const r = await cliAsync(...(args as string[]));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('malformed JSON and bad shapes fail without touching the output file', () => {
    const output = join(dir, 'keep.json');
    writeFileSync(output, 'previous results');
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"inputs": {"a": ');
    let r = cli('kernel', 'matmul', '--input', broken, '--output', output);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: input file .*broken.json is not valid JSON/);
    const mismatched = join(dir, 'mismatched.json');
    writeFileSync(
      mismatched,
      JSON.stringify({ inputs: { a: { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }, b: { shape: [2, 2], data: [1, 0, 0, 1] } } }),
    );
    r = cli('kernel', 'matmul', '--input', mismatched, '--output', output);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: matmul: inner dimensions differ/);
    expect(readFileSync(output, 'utf8')).toBe('previous results');
    expect(existsSync(join(dir, 'missing-out.json'))).toBe(false);
  });
});

describe('run and check commands', () => {
  it('check compares every kernel with the CPU reference', () => {
    const r = cli('check');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok\s+matmul/m);
    expect(r.stdout).toMatch(/all \d+ kernels match the CPU reference/);
  });

  it('run --plan runs a plan and writes the metrics, selections and summary', () => {
    const plan = join(dir, 'plan.json');
    const out = join(dir, 'run-out');
    writeFileSync(
      plan,
      JSON.stringify({
        seed: 2,
        task: { kind: 'regression', d: 4, n: 8, head: 2 },
        batch: 16,
        eval: { size: 32, every: 10 },
        phases: [
          { name: 'pre', kind: 'pretrain', steps: 10, lr: 0.01 },
          { name: 'sft', kind: 'sft', pool: 64, select: { rule: 'hardest', m: 8 }, steps: 5, lr: 0.01 },
        ],
      }),
    );
    const r = cli('run', '--plan', plan, '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\| pre\s+\| \d+\.\d{4}/);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.phases.map((p: { name: string }) => p.name)).toEqual(['pre', 'sft']);
    const selections = JSON.parse(readFileSync(join(out, 'selections.json'), 'utf8'));
    expect(selections[0].ids).toHaveLength(8);
    const events = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events[0].type).toBe('run-start');
    expect(events[events.length - 1].type).toBe('run-end');
    // The same steps and evaluations as a table (the demo page downloads the same format).
    const csv = readFileSync(join(out, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toMatch(/^event,phase,step,lr,loss,reward,held-out mse,mse head,mse tail/);
    const steps = events.filter((e) => e.type === 'step' || e.type === 'eval');
    expect(csv.length - 1).toBe(steps.length);
    expect(csv[1].split(',').slice(0, 3)).toEqual(['step', 'pre', '10']);
    expect(Number(csv[1].split(',')[4])).toBe(steps[0].loss);
  });

  it('an invalid plan gets every bad field named and exit 1, before any GPU work', () => {
    const plan = join(dir, 'bad-plan.json');
    writeFileSync(
      plan,
      JSON.stringify({ task: { kind: 'regression', d: 0 }, phases: [{ name: 'p', kind: 'sft', steps: 5, lr: 100 }] }),
    );
    const r = cli('run', '--plan', plan);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: invalid plan:\n {2}task\.d: must be >= 1\n[\s\S]*\n {2}phases\[0\]\.lr: must be <= 10/);
    expect(r.stderr).not.toMatch(/adapter:/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('kill and resume', () => {
  /** The events that carry results (not the run-start, phase-start and checkpoint records a resume repeats). */
  const resultEvents = (dir: string) =>
    readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => !['run-start', 'phase-start', 'checkpoint'].includes(e.type));

  function start(args: string[], env: Record<string, string> = {}) {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: root,
      stdio: 'ignore',
      env: { ...process.env, ...env },
    });
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    return { child, exit };
  }

  it('killed twice (inside a checkpoint write, then at a seeded random moment), it resumes to the uninterrupted metrics and log', async () => {
    const plan = join(dir, 'resume-plan.json');
    writeFileSync(
      plan,
      JSON.stringify({
        seed: 6,
        task: { kind: 'regression', d: 8, n: 32 },
        batch: 64,
        eval: { size: 128, every: 40 },
        phases: [
          { name: 'pretrain', kind: 'pretrain', steps: 200, lr: 0.01 },
          { name: 'sft', kind: 'sft', pool: 512, select: { rule: 'hardest', m: 32 }, steps: 100, lr: 0.003 },
        ],
      }),
    );
    const full = join(dir, 'full');
    expect(cli('run', '--plan', plan, '--out', full, '--checkpoint-every', '10').code).toBe(0);
    const killed = join(dir, 'killed');
    const checkpoint = join(killed, 'checkpoint.bin');

    // 1. Killed halfway through writing its third checkpoint (step 30): the second stays whole.
    const first = start(['run', '--plan', plan, '--out', killed, '--checkpoint-every', '10'], {
      WEBGPU_TRAIN_FAULTS: JSON.stringify({ killInCheckpointWrite: 3 }),
    });
    expect(await first.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect((await decodeCheckpoint(new Uint8Array(readFileSync(checkpoint)))).step).toBe(20);
    expect(readdirSync(killed).filter((f) => f.endsWith('.tmp'))).toHaveLength(1);
    expect(existsSync(join(killed, 'summary.json'))).toBe(false);

    // 2. Resumed, and killed again at a moment drawn from a fixed seed once it has saved a newer checkpoint.
    const delay = 500 * new Rng(8).next();
    const second = start(['run', '--resume', killed]);
    const saved = statSync(checkpoint).mtimeMs;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (statSync(checkpoint).mtimeMs !== saved) {
          clearInterval(timer);
          setTimeout(() => {
            second.child.kill('SIGKILL');
            resolve();
          }, delay);
        }
      }, 10);
    });
    expect((await second.exit).signal).toBe('SIGKILL');
    expect(existsSync(join(killed, 'summary.json'))).toBe(false);

    // 3. Resumed to the end: the same metrics, table and log as the run nothing interrupted.
    const r = cli('run', '--resume', killed);
    expect(r.code, r.stderr).toBe(0);
    const summary = (d: string) => JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8')).phases;
    expect(summary(killed)).toEqual(summary(full));
    expect(readFileSync(join(killed, 'metrics.csv'), 'utf8')).toBe(readFileSync(join(full, 'metrics.csv'), 'utf8'));
    expect(resultEvents(killed)).toEqual(resultEvents(full));
    expect(readdirSync(killed).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a lost GPU device is reported, a new one acquired, and the run ends with the uninterrupted metrics', () => {
    const plan = join(dir, 'resume-plan.json');
    const lost = join(dir, 'lost');
    const env = { ...process.env, WEBGPU_TRAIN_FAULTS: JSON.stringify({ loseDeviceAt: 95 }) };
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'run', '--plan', plan, '--out', lost, '--checkpoint-every', '10'],
      { cwd: root, encoding: 'utf8', timeout: 60_000, env },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /the GPU device was lost \(GPU device lost \(destroyed: .*\)\); acquiring a new device and resuming from its checkpoint at phase 0, step 90/,
    );
    const summary = (d: string) => JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8')).phases;
    expect(summary(lost)).toEqual(summary(join(dir, 'full')));
    expect(resultEvents(lost)).toEqual(resultEvents(join(dir, 'full')));
  });

  it('--resume without a checkpoint, or with --plan too, is refused', () => {
    expect(cli('run', '--resume', join(dir, 'nowhere')).stderr).toMatch(
      /error: --resume .*nowhere: there is no checkpoint\.bin there/,
    );
    expect(cli('run', '--resume', dir, '--plan', 'x.json').stderr).toMatch(/give --plan FILE \(a new run\) or --resume DIR/);
  });
});
