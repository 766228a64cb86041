/**
 * Running a registered kernel on host data: parse and validate a request (shapes, dtypes, NaN/Inf,
 * options), upload, dispatch, read back; and `check`, which compares a kernel with its CPU reference
 * on seeded inputs. Used by the command line, the tests, the benchmark and the demo.
 */
import { InputError } from '../gpu/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { type Tensor, numel, shapeString } from '../gpu/tensor.ts';
import { type Comparison, compare } from '../reference/compare.ts';
import { Rng } from '../reference/random.ts';
import { type Dims, type HostTensor, type KernelEntry, type Options, checkTargets } from './registry.ts';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function flatten(data: unknown, where: string): number[] {
  if (!Array.isArray(data)) throw new InputError(`${where}: "data" must be an array of numbers, got ${typeof data}`);
  const out: number[] = [];
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) {
      for (const [i, e] of v.entries()) walk(e, `${path}[${i}]`);
    } else if (typeof v === 'number') out.push(v);
    else if (v === null)
      out.push(Number.NaN); // JSON has no NaN; null is how NaN usually arrives
    else throw new InputError(`${where}: data${path} is ${JSON.stringify(v)}, expected a number`);
  };
  walk(data, '');
  return out;
}

/** Turn one input from JSON ({"shape": [...], "data": [...]}) into a host tensor, checking it. */
export function parseTensor(entry: KernelEntry, name: string, raw: unknown): HostTensor {
  const doc = entry.inputs.find((i) => i.name === name);
  const where = `input ${name}`;
  if (!doc) {
    throw new InputError(`${entry.name} has no input "${name}"; its inputs are ${entry.inputs.map((i) => i.name).join(', ')}`);
  }
  if (!isRecord(raw)) throw new InputError(`${where}: expected an object {"shape": [...], "data": [...]}`);
  const { shape, data } = raw;
  if (!Array.isArray(shape) || shape.length === 0 || shape.some((d) => !Number.isInteger(d) || (d as number) < 1)) {
    throw new InputError(`${where}: "shape" must be a non-empty array of integers >= 1, got ${JSON.stringify(shape)}`);
  }
  const dims = shape as number[];
  const values = flatten(data, where);
  if (values.length !== numel(dims)) {
    throw new InputError(`${where}: shape ${shapeString(dims)} holds ${numel(dims)} values but "data" has ${values.length}`);
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      const what = Number.isNaN(v) ? 'NaN (null in the JSON)' : String(v);
      throw new InputError(`${where}: value at flat index ${i} is ${what}; inputs must be finite numbers`);
    }
    if (doc.dtype === 'u32' && (!Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new InputError(`${where}: value ${v} at flat index ${i} is not a non-negative integer (${name} is u32)`);
    }
  }
  return { shape: dims, data: doc.dtype === 'u32' ? Uint32Array.from(values) : Float32Array.from(values) };
}

export function parseOptions(entry: KernelEntry, raw: unknown): Options {
  if (raw === undefined) return {};
  if (!isRecord(raw)) throw new InputError(`"options" must be an object, got ${JSON.stringify(raw)}`);
  const out: Options = {};
  for (const [k, v] of Object.entries(raw)) {
    const doc = entry.options.find((o) => o.name === k);
    if (!doc) {
      const valid = entry.options.map((o) => `${o.name} (${o.type})`).join(', ') || 'none';
      throw new InputError(`${entry.name} has no option "${k}"; valid options: ${valid}`);
    }
    if (typeof v !== doc.type) throw new InputError(`option ${k} must be a ${doc.type}, got ${JSON.stringify(v)}`);
    const problem = typeof v === 'number' ? doc.check?.(v) : undefined;
    if (problem) throw new InputError(`option ${k} = ${v}: ${problem}`);
    out[k] = v as boolean | number;
  }
  return out;
}

/** Parse a whole request: {"inputs": {...}, "options": {...}}. */
export function parseRequest(entry: KernelEntry, raw: unknown): { inputs: Record<string, HostTensor>; options: Options } {
  if (!isRecord(raw)) throw new InputError('the input file must hold a JSON object {"inputs": {...}, "options": {...}}');
  for (const k of Object.keys(raw)) {
    if (k !== 'inputs' && k !== 'options')
      throw new InputError(`unknown top-level field "${k}"; expected "inputs" and "options"`);
  }
  if (!isRecord(raw.inputs)) throw new InputError('"inputs" must be an object mapping input names to {"shape", "data"}');
  const inputs: Record<string, HostTensor> = {};
  for (const [k, v] of Object.entries(raw.inputs)) inputs[k] = parseTensor(entry, k, v);
  return { inputs, options: parseOptions(entry, raw.options) };
}

/** Checks that need the data, not just the shapes: required inputs present, targets in range. */
export function validateInputs(entry: KernelEntry, inputs: Record<string, HostTensor>): void {
  for (const doc of entry.inputs) {
    if (!doc.optional && !inputs[doc.name]) {
      throw new InputError(`${entry.name} needs input "${doc.name}" (${doc.dtype} ${doc.shape})`);
    }
  }
  if (inputs.targets && inputs.logits) checkTargets(inputs.targets, inputs.logits.shape[inputs.logits.shape.length - 1]);
}

/** Upload, run on the GPU, read back. GPU tensors made here are freed before returning. */
export async function runKernel(
  rt: Runtime,
  entry: KernelEntry,
  inputs: Record<string, HostTensor>,
  options: Options,
): Promise<Record<string, HostTensor>> {
  validateInputs(entry, inputs);
  const made: Tensor[] = [];
  try {
    const gpuInputs: Record<string, Tensor> = {};
    for (const [k, h] of Object.entries(inputs)) {
      const doc = entry.inputs.find((i) => i.name === k);
      const t = rt.tensor(h.data, h.shape, doc?.dtype ?? 'f32', `${entry.name}.${k}`);
      made.push(t);
      gpuInputs[k] = t;
    }
    const outs = entry.gpu(rt, gpuInputs, options, inputs);
    made.push(...Object.values(outs));
    const result: Record<string, HostTensor> = {};
    for (const [k, t] of Object.entries(outs)) result[k] = { shape: [...t.shape], data: await rt.read(t) };
    return result;
  } finally {
    for (const t of made) t.destroy();
  }
}

export interface CheckResult {
  kernel: string;
  dims: Dims;
  options: Options;
  outputs: Record<string, Comparison>;
  ok: boolean;
}

/** Run `entry` on seeded inputs of size `dims` and compare every output with the CPU reference. */
export async function checkKernel(
  rt: Runtime,
  entry: KernelEntry,
  dims: Dims,
  options: Options = {},
  seed = 1,
): Promise<CheckResult> {
  const inputs = entry.sample(new Rng(seed), dims, options);
  const got = await runKernel(rt, entry, inputs, options);
  const want = entry.cpu(inputs, options);
  const tol = entry.tolerance(dims, options);
  const outputs: Record<string, Comparison> = {};
  for (const [k, w] of Object.entries(want)) outputs[k] = compare(got[k]?.data ?? [], w.data, tol, `${entry.name}.${k}`);
  return { kernel: entry.name, dims, options, outputs, ok: Object.values(outputs).every((c) => c.ok) };
}
