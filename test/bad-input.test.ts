/**
 * Bad input, as a table: each case names what is wrong and what would be valid, before anything
 * runs. Plans (every field the scheduler reads), kernel requests (what the command line and the page
 * pass to a kernel) and checkpoint bytes. Node and Chromium.
 */
import { describe, expect, it } from 'vitest';
import { findKernel } from '../src/kernels/registry.ts';
import { parseRequest, validateInputs } from '../src/kernels/run.ts';
import { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from '../src/train/checkpoint.ts';
import { defaultPlan, PlanError, parsePlan } from '../src/train/plan.ts';

// biome-ignore lint/suspicious/noExplicitAny: the cases edit plans freely, past what their type allows
type Mutable = Record<string, any>;

const pointer = (p: Mutable, task: Mutable, model: Mutable = { kind: 'transformer' }) => {
  p.task = task;
  p.model = model;
  p.phases = [{ name: 'pre', kind: 'pretrain', steps: 1, lr: 0.01 }];
};

/** [what is wrong, how the recipe plan is changed, the message expected (path: message)]. */
const planCases: [string, (p: Mutable) => unknown, RegExp][] = [
  ['not an object', () => ({ replace: [1, 2] }), /\(plan\): Invalid input: expected object, received array/],
  ['an unknown field', (p) => (p.epochs = 3), /\(plan\): Unrecognized key: "epochs"/],
  ['an unknown phase field', (p) => (p.phases[0].momentum = 0.9), /phases\[0\]: Unrecognized key: "momentum"/],
  ['a wrong type', (p) => (p.seed = 'one'), /seed: Invalid input: expected number, received string/],
  ['no task', (p) => delete p.task, /task: required: a task suite, with "kind" one of "regression", "pointer"/],
  ['an unknown task', (p) => (p.task = { kind: 'vision' }), /task: unknown kind "vision"; valid kinds: "regression", "pointer"/],
  ['an unknown model', (p) => (p.model = { kind: 'mlp' }), /model: unknown kind "mlp"; valid kinds: "lsa-merged"/],
  [
    'a model field of the wrong type',
    (p) => (p.model = { kind: 'icl-transformer', dModel: '32' }),
    /model: dModel: .*expected number/,
  ],
  [
    'the model of the other task',
    (p) => (p.model = { kind: 'transformer' }),
    /model\.kind: the regression task needs model kind/,
  ],
  ['no phases', (p) => (p.phases = []), /phases: a plan needs at least one phase/],
  ['zero steps', (p) => (p.phases[0].steps = 0), /phases\[0\]\.steps: must be >= 1/],
  ['negative steps', (p) => (p.phases[0].steps = -5), /phases\[0\]\.steps: must be >= 1/],
  ['fractional steps', (p) => (p.phases[0].steps = 2.5), /phases\[0\]\.steps: must be an integer/],
  ['learning rate 0', (p) => (p.phases[0].lr = 0), /phases\[0\]\.lr: must be > 0/],
  ['an absurd learning rate', (p) => (p.phases[0].lr = 1e6), /phases\[0\]\.lr: must be <= 10 \(larger is not a learning rate\)/],
  ['batch 0', (p) => (p.batch = 0), /batch: must be >= 1/],
  ['a negative eval size', (p) => (p.eval.size = -1), /eval\.size: must be >= 1/],
  [
    'an unknown phase kind',
    (p) => (p.phases[0].kind = 'finetune'),
    /phases\[0\]\.kind: Invalid option: expected one of "pretrain"\|"sft"\|"rl"/,
  ],
  [
    'SFT size larger than the pool',
    (p) => (p.phases[1].select.m = 5000),
    /phases\[1\]\.select\.m: select\.m must not exceed the pool size/,
  ],
  [
    'an unknown selection rule',
    (p) => (p.phases[1].select.rule = 'top'),
    /phases\[1\]\.select\.rule: Invalid option: expected one of "hardest"/,
  ],
  ['a pool without a rule', (p) => delete p.phases[1].select, /phases\[1\]\.select: pool and select go together/],
  ['a band rule without a band', (p) => delete p.phases[2].select.band, /phases\[2\]\.select\.band: rule 'band' needs band/],
  ['RL group size 1', (p) => (p.phases[2].group = 1), /phases\[2\]\.group: the RL group size must be >= 2/],
  [
    'an RL group that does not divide the batch',
    (p) => (p.phases[2].group = 7),
    /phases\[2\]\.group: must divide the phase's batch \(64\)/,
  ],
  [
    'an unknown domain',
    (p) => (p.phases[0].mixture = { head: 1, body: 1 }),
    /phases\[0\]\.mixture\.body: unknown domain; this task's domains are head, tail/,
  ],
  [
    'a negative mixture weight',
    (p) => (p.phases[0].mixture = { head: -1, tail: 1 }),
    /phases\[0\]\.mixture\.head: mixture weights must be >= 0/,
  ],
  [
    'an all-zero mixture',
    (p) => (p.phases[0].mixture = { head: 0, tail: 0 }),
    /phases\[0\]\.mixture: the weights must not all be 0/,
  ],
  ['a head domain as large as d', (p) => (p.task.head = 8), /task\.head: head must be smaller than d/],
  [
    'an unknown NaN policy',
    (p) => (p.onNonFinite = { action: 'ignore' }),
    /onNonFinite\.action: Invalid option: expected one of "stop"\|"rollback"/,
  ],
  [
    'a rollback that does not shrink the step',
    (p) => (p.onNonFinite = { action: 'rollback', lrFactor: 1 }),
    /onNonFinite\.lrFactor: must be < 1 \(a smaller step\)/,
  ],
  [
    'hop counts on the regression task',
    (p) => (p.phases[0].hops = [1, 2]),
    /phases\[0\]\.hops: hops is \[lo, hi\] with 1 <= lo <= hi <= task\.maxHops/,
  ],
  [
    'an unknown weight-decay choice',
    (p) => (p.phases[0].decayParams = 'biases'),
    /phases\[0\]\.decayParams: Invalid option: expected one of "matrices"\|"all"/,
  ],
  [
    'heads not dividing the width',
    (p) => pointer(p, { kind: 'pointer' }, { kind: 'transformer', dModel: 30, heads: 4 }),
    /model\.heads: heads must divide dModel/,
  ],
  [
    'a hop count beyond the nodes (the position table)',
    (p) => pointer(p, { kind: 'pointer', nodes: 4, maxHops: 6 }),
    /task\.maxHops: maxHops must be smaller than nodes/,
  ],
];

describe('bad plans', () => {
  it.each(planCases)('%s', (_what, change, message) => {
    const p: Mutable = structuredClone(defaultPlan);
    // A change edits the plan in place, or returns { replace } to pass something else entirely.
    const r = change(p) as { replace?: unknown } | undefined;
    const input = r !== null && typeof r === 'object' && 'replace' in r ? r.replace : p;
    let error: unknown;
    try {
      parsePlan(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PlanError);
    expect((error as Error).message).toMatch(message);
  });
});

describe('bad kernel requests', () => {
  const matmul = findKernel('matmul');
  const cases: [string, unknown, RegExp][] = [
    ['not an object', [1], /the input file must hold a JSON object \{"inputs": \{\.\.\.\}, "options": \{\.\.\.\}\}/],
    ['an unknown top-level field', { inputs: {}, extra: 1 }, /unknown top-level field "extra"; expected "inputs" and "options"/],
    ['an unknown input', { inputs: { z: { shape: [1], data: [1] } } }, /matmul has no input "z"; its inputs are a, b/],
    ['an unknown option', { inputs: {}, options: { alpha: 2 } }, /matmul has no option "alpha"/],
    ['NaN in the data', { inputs: { a: { shape: [1, 2], data: [1, 'NaN'] } } }, /input a/],
  ];
  it.each(cases)('%s', (_what, raw, message) => {
    expect(() => parseRequest(matmul, raw)).toThrow(message);
  });

  it('a missing input names it, with its dtype and shape', () => {
    expect(() => validateInputs(matmul, {})).toThrow(/matmul needs input "a" \(f32 \[M, K\]/);
  });
});

describe('bad checkpoints', () => {
  const checkpoint: Checkpoint = {
    plan: parsePlan(defaultPlan),
    phase: 0,
    step: 5,
    globalStep: 5,
    paramShapes: [{ name: 'w', shape: [2] }],
    params: Float32Array.of(1, 2),
    m: Float32Array.of(0, 0),
    v: Float32Array.of(0, 0),
    optStep: 5,
    rng: { counter: 0, pos: 4 },
    results: [],
  };

  it('a corrupted, a truncated and a foreign file are refused by name', async () => {
    const bytes = await encodeCheckpoint(checkpoint);
    expect((await decodeCheckpoint(bytes, 'ck.bin')).params).toEqual(checkpoint.params);
    const flipped = bytes.slice();
    flipped[20] ^= 1;
    await expect(decodeCheckpoint(flipped, 'ck.bin')).rejects.toThrow(
      /ck\.bin is corrupted or truncated: its SHA-256 checksum does not match/,
    );
    await expect(decodeCheckpoint(bytes.slice(0, 40), 'ck.bin')).rejects.toThrow(
      /ck\.bin is (corrupted or truncated|not a checkpoint)/,
    );
    await expect(decodeCheckpoint(new TextEncoder().encode('{}'), 'x.json')).rejects.toThrow(
      /x\.json is not a checkpoint of this program/,
    );
  });
});
