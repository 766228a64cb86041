/**
 * The command line as a user runs it: exit codes, messages without stack traces, and output files
 * that are written whole or not at all. Node only: most cases call main() in this process (what the
 * program runs, far quicker than a process each); a real run, and the kills, spawn processes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { exposedGc } from '../src/cli/bench.ts';
import { main } from '../src/cli/main.ts';
import * as ref from '../src/reference/kernels.ts';
import { Rng } from '../src/reference/random.ts';
import { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from '../src/train/checkpoint.ts';
import { parsePlan } from '../src/train/plan.ts';

const root = join(import.meta.dirname, '..');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The command line's main() in this process, as `webgpu-train ARGS` would run it (far quicker than a
 * process each): its exit code (process.exitCode) and what it printed.
 */
async function cliHere(env: Record<string, string>, ...args: string[]) {
  const printed: string[] = [];
  const stdout: string[] = [];
  const spies = [
    vi.spyOn(console, 'error').mockImplementation((...a) => void printed.push(`${a.join(' ')}\n`)),
    vi.spyOn(console, 'log').mockImplementation((...a) => void stdout.push(`${a.join(' ')}\n`)),
    vi.spyOn(process.stderr, 'write').mockImplementation((text) => printed.push(String(text)) > 0),
  ];
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  process.exitCode = undefined;
  try {
    await main(['node', 'main.ts', ...args]);
  } finally {
    for (const spy of spies) spy.mockRestore();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const code = process.exitCode ?? 0;
  process.exitCode = undefined;
  return { code, stdout: stdout.join(''), stderr: printed.join('') };
}

const dir = mkdtempSync(join(tmpdir(), 'webgpu-train-cli-'));

describe('kernel command', () => {
  it('--list names every kernel with inputs, options and outputs', async () => {
    const r = await cliHere({}, 'kernel', '--list');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^matmul: /m);
    expect(r.stdout).toMatch(/option transB \(boolean, default false\)/);
    expect(r.stdout).toMatch(/^softmax: /m);
    expect(r.stdout).toMatch(/output y \(f32\)/);
  });

  it('runs matmul on a user file and writes outputs and the adapter', async () => {
    const input = join(dir, 'mm.json');
    const output = join(dir, 'mm-out.json');
    const a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    const b = [0.5, -1, 2, 0, 1, 1, 3, -2];
    writeFileSync(
      input,
      JSON.stringify({ inputs: { a: { shape: [3, 4], data: a }, b: { shape: [2, 4], data: b } }, options: { transB: true } }),
    );
    const r = await cliHere({}, 'kernel', 'matmul', '--input', input, '--output', output);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/adapter: /);
    const out = JSON.parse(readFileSync(output, 'utf8'));
    const want = new Float32Array(6);
    ref.matmul(want, Float32Array.from(a), Float32Array.from(b), null, 1, 3, 2, 4, { transB: true });
    expect(out.outputs.c.shape).toEqual([3, 2]);
    expect(out.outputs.c.data).toEqual(Array.from(want));
    expect(typeof out.adapter.vendor).toBe('string');
  });

  it('--check compares with the CPU reference and prints the errors', async () => {
    const r = await cliHere(
      {},
      'kernel',
      'softmax',
      '--check',
      '--dims',
      'R=5,N=33',
      '--options',
      '{"causal": true, "scale": 0.5}',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok\s+softmax\s+R=5 N=33 \{"causal":true,"scale":0.5\}\s+max abs err \S+\s+rel err/);
  });

  it.each([
    [['kernel', 'nosuch', '--check'], /error: unknown kernel "nosuch"; valid kernels: matmul/],
    [['kernel', 'matmul', '--bogus'], /error: unknown option '--bogus'/],
    [['kernel', 'matmul', '--check', '--options', '{"alpha": 2}'], /error: matmul has no option "alpha"/],
    [['kernel', 'matmul'], /error: kernel matmul: give --input FILE and --output FILE, or --check/],
    [['frobnicate'], /error: unknown command 'frobnicate'/],
  ])('%j exits 1 with a one-line message', async (args, message) => {
    const r = await cliHere({}, ...(args as string[]));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('malformed JSON and bad shapes fail without touching the output file', async () => {
    const output = join(dir, 'keep.json');
    writeFileSync(output, 'previous results');
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"inputs": {"a": ');
    let r = await cliHere({}, 'kernel', 'matmul', '--input', broken, '--output', output);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: input file .*broken.json is not valid JSON/);
    const mismatched = join(dir, 'mismatched.json');
    writeFileSync(
      mismatched,
      JSON.stringify({ inputs: { a: { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }, b: { shape: [2, 2], data: [1, 0, 0, 1] } } }),
    );
    r = await cliHere({}, 'kernel', 'matmul', '--input', mismatched, '--output', output);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: matmul: inner dimensions differ/);
    expect(readFileSync(output, 'utf8')).toBe('previous results');
    expect(existsSync(join(dir, 'missing-out.json'))).toBe(false);
  });
});

describe('run and check commands', () => {
  it('check compares every kernel with the CPU reference', async () => {
    const r = await cliHere({}, 'check');
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

  it('an invalid plan gets every bad field named and exit 1, before any GPU work', async () => {
    const plan = join(dir, 'bad-plan.json');
    writeFileSync(
      plan,
      JSON.stringify({ task: { kind: 'regression', d: 0 }, phases: [{ name: 'p', kind: 'sft', steps: 5, lr: 100 }] }),
    );
    const r = await cliHere({}, 'run', '--plan', plan);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: invalid plan:\n {2}task\.d: must be >= 1\n[\s\S]*\n {2}phases\[0\]\.lr: must be <= 10/);
    expect(r.stderr).not.toMatch(/adapter:/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('bad input on the command line', () => {
  const base = {
    seed: 1,
    task: { kind: 'regression', d: 8, n: 32 },
    phases: [{ name: 'p', kind: 'pretrain', steps: 5, lr: 0.01 }],
  };
  /** A folder holding a run (a real checkpoint's bytes, a summary, a log): every case must leave it as it is. */
  const existing = join(dir, 'existing');
  const fresh = join(dir, 'fresh');
  const write = (name: string, body: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
    return path;
  };
  const snapshot = (d: string) => Object.fromEntries(readdirSync(d).map((f) => [f, readFileSync(join(d, f)).toString('base64')]));

  it('each case exits 1 with a one-line message naming what is wrong, and leaves the results already there untouched', async () => {
    mkdirSync(existing, { recursive: true });
    const checkpoint: Checkpoint = {
      plan: parsePlan({ ...base, task: { kind: 'regression', d: 4, n: 16, head: 2 } }),
      phase: 0,
      step: 5,
      globalStep: 5,
      paramShapes: [
        { name: 'Q', shape: [4, 4] },
        { name: 'P', shape: [4, 4] },
      ],
      params: new Float32Array(80),
      m: new Float32Array(80),
      v: new Float32Array(80),
      optStep: 5,
      rng: { counter: 0, pos: 4 },
      results: [],
    };
    const bytes = await encodeCheckpoint(checkpoint);
    writeFileSync(join(existing, 'checkpoint.bin'), bytes);
    writeFileSync(join(existing, 'summary.json'), '{"phases": []}\n');
    writeFileSync(join(existing, 'metrics.jsonl'), '{"type":"checkpoint","phase":0,"step":5,"globalStep":5}\n');
    const corrupted = join(dir, 'corrupted');
    const truncated = join(dir, 'truncated');
    for (const [d, b] of [
      [corrupted, bytes.map((x, j) => (j === 30 ? x ^ 1 : x))],
      [truncated, bytes.slice(0, bytes.length >> 1)],
    ] as const) {
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'checkpoint.bin'), b);
    }
    const before = [existing, corrupted, truncated].map(snapshot);
    const p = (name: string, change: (x: Record<string, unknown>) => unknown) => {
      const plan: Record<string, unknown> = structuredClone(base);
      change(plan);
      return write(name, plan);
    };
    const phase0 = (x: Record<string, unknown>) => (x.phases as Record<string, unknown>[])[0];
    const cases: [string, string[], RegExp, Record<string, string>?][] = [
      [
        'truncated plan JSON',
        ['run', '--plan', write('trunc.json', '{"task": {"kind": "regr'), '--out', fresh],
        /plan file .*trunc\.json is not valid JSON/,
      ],
      [
        'a missing plan file',
        ['run', '--plan', join(dir, 'nope.json'), '--out', fresh],
        /cannot read plan file .*nope\.json: no such file/,
      ],
      [
        'an unknown plan field',
        ['run', '--plan', p('unknown.json', (x) => (x.epochs = 3)), '--out', fresh],
        /invalid plan:\n {2}\(plan\): Unrecognized key: "epochs"/,
      ],
      [
        'a wrong type',
        ['run', '--plan', p('type.json', (x) => (x.seed = 'one')), '--out', fresh],
        /seed: Invalid input: expected number, received string/,
      ],
      [
        'learning rate 0',
        ['run', '--plan', p('lr.json', (x) => (phase0(x).lr = 0)), '--out', fresh],
        /phases\[0\]\.lr: must be > 0/,
      ],
      [
        'SFT size above the pool',
        [
          'run',
          '--plan',
          p('pool.json', (x) => Object.assign(phase0(x), { kind: 'sft', pool: 8, select: { rule: 'hardest', m: 16 } })),
          '--out',
          fresh,
        ],
        /phases\[0\]\.select\.m: select\.m must not exceed the pool size/,
      ],
      [
        'heads not dividing the width',
        [
          'run',
          '--plan',
          p('heads.json', (x) =>
            Object.assign(x, { task: { kind: 'pointer' }, model: { kind: 'transformer', dModel: 30, heads: 4 } }),
          ),
          '--out',
          fresh,
        ],
        /model\.heads: heads must divide dModel/,
      ],
      [
        "tensors beyond the adapter's limits",
        [
          'run',
          '--plan',
          p('huge.json', (x) => Object.assign(x, { task: { kind: 'regression', d: 256, n: 1024 }, batch: 65536 })),
          '--out',
          fresh,
        ],
        /needs \d+ bytes, above this adapter's max(StorageBufferBindingSize|BufferSize)/,
      ],
      [
        'a new run over an existing one',
        ['run', '--plan', write('ok.json', base), '--out', existing],
        /--out .*existing already holds a run \(checkpoint\.bin, summary\.json\); continue it with --resume .*, or add --overwrite/,
      ],
      [
        'a corrupted checkpoint',
        ['run', '--resume', corrupted],
        /corrupted.checkpoint\.bin is corrupted or truncated: its SHA-256 checksum does not match/,
      ],
      ['a truncated checkpoint', ['run', '--resume', truncated], /truncated.checkpoint\.bin is corrupted or truncated/],
      [
        'a checkpoint of another model shape',
        ['run', '--plan', write('d8.json', base), '--init-from', existing, '--out', fresh],
        /the starting checkpoint is from another model shape: it holds Q\[4,4\] P\[4,4\], this plan's model has Q\[8,8\] P\[8,8\]/,
      ],
      [
        '--init-from without a checkpoint',
        ['run', '--plan', write('d8b.json', base), '--init-from', fresh],
        /--init-from .*fresh: there is no checkpoint\.bin there/,
      ],
      [
        '--checkpoint-every 0',
        ['run', '--plan', write('ok2.json', base), '--checkpoint-every', '0', '--out', fresh],
        /--checkpoint-every must be at least 1/,
      ],
      ['a peak of no TFLOP/s', ['bench', '--peak-tflops', '0'], /--peak-tflops must be a positive number, e\.g\. 67/],
      [
        'bench:gpu on a CPU adapter',
        ['bench', '--require-gpu', '--json', join(fresh, 'gpu.json')],
        /--require-gpu: the adapter is a CPU fallback, not a GPU\. On Linux with an NVIDIA GPU/,
      ],
      ['an unknown option', ['run', '--bogus'], /unknown option '--bogus'/],
      ['an unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
      ['an unknown kernel', ['kernel', 'nosuch', '--check'], /unknown kernel "nosuch"; valid kernels: matmul, softmax/],
      [
        'a bad fault description',
        ['run', '--plan', write('ok3.json', base), '--out', fresh],
        /WEBGPU_TRAIN_FAULTS must be a JSON object of non-negative integers with keys among nanAt, .*; "explode" is not/,
        { WEBGPU_TRAIN_FAULTS: '{"explode": 1}' },
      ],
    ];
    expect(cases.length).toBeGreaterThanOrEqual(15);
    for (const [what, args, message, env] of cases) {
      const r = await cliHere(env ?? {}, ...args);
      expect(r.code, `${what}: ${r.stderr}`).toBe(1);
      expect(r.stderr, what).toMatch(message);
      expect(r.stderr, what).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(fresh)).toBe(false);
    expect([existing, corrupted, truncated].map(snapshot)).toEqual(before);
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
          { name: 'pretrain', kind: 'pretrain', steps: 120, lr: 0.01 },
          { name: 'sft', kind: 'sft', pool: 512, select: { rule: 'hardest', m: 32 }, steps: 60, lr: 0.003 },
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

  it('a lost GPU device is reported, a new one acquired, and the run ends with the uninterrupted metrics', async () => {
    const plan = join(dir, 'resume-plan.json');
    const lost = join(dir, 'lost');
    const faults = { WEBGPU_TRAIN_FAULTS: JSON.stringify({ loseDeviceAt: 95 }) };
    const r = await cliHere(faults, 'run', '--plan', plan, '--out', lost, '--checkpoint-every', '10');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /the GPU device was lost \(GPU device lost \(destroyed: .*\)\); acquiring a new device and resuming from its checkpoint at phase 0, step 90/,
    );
    const summary = (d: string) => JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8')).phases;
    expect(summary(lost)).toEqual(summary(join(dir, 'full')));
    expect(resultEvents(lost)).toEqual(resultEvents(join(dir, 'full')));
  });

  it('--resume without a checkpoint, or with --plan too, is refused', async () => {
    expect((await cliHere({}, 'run', '--resume', join(dir, 'nowhere'))).stderr).toMatch(
      /error: --resume .*nowhere: there is no checkpoint\.bin there/,
    );
    expect((await cliHere({}, 'run', '--resume', dir, '--plan', 'x.json')).stderr).toMatch(
      /give --plan FILE \(a new run\) or --resume DIR/,
    );
  });
});

describe('bench: the heap settled between timings', () => {
  it("exposes V8's gc without a node option, and it frees what is no longer reachable", () => {
    const gc = exposedGc();
    expect(typeof gc).toBe('function');
    let garbage: Float64Array[] | undefined = Array.from({ length: 64 }, () => new Float64Array(1 << 14));
    const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    expect(garbage.length).toBe(64);
    garbage = undefined;
    gc?.();
    const after = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    // 64 x 128 KiB = 8 MiB dropped; at least half of it must be gone.
    expect(before - after).toBeGreaterThan(4 * 2 ** 20);
  });
});
