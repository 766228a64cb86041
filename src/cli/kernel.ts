/** `kernel`: list the kernels, run one on the user's inputs, or check one against the CPU reference. */
import { describeAdapter } from '../device/index.ts';
import { UserError } from '../device/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { findKernel, type HostTensor, type KernelEntry, kernels } from '../kernels/registry.ts';
import { formatDims } from '../kernels/entry.ts';
import { checkKernel, parseOptions, parseRequest, runKernel, validateInputs } from '../kernels/run.ts';
import { readJsonFile, writeFileAtomic } from './io.ts';

export function listKernels(): string {
  const lines: string[] = [];
  for (const k of kernels) {
    lines.push(`${k.name}: ${k.summary}`);
    for (const i of k.inputs)
      lines.push(`  input  ${i.name} (${i.dtype}) ${i.shape}${i.optional ? ', optional' : ''}${i.doc ? `: ${i.doc}` : ''}`);
    for (const o of k.options) lines.push(`  option ${o.name} (${o.type}, default ${o.default}): ${o.doc}`);
    for (const o of k.outputs) lines.push(`  output ${o.name} (${o.dtype}) ${o.shape}${o.doc ? `: ${o.doc}` : ''}`);
  }
  return lines.join('\n');
}

const toJson = (t: HostTensor) => ({ shape: t.shape, data: Array.from(t.data) });

/**
 * Run `entry` on the inputs in `inputPath`; write {"outputs", "adapter"} to `outputPath`. The input
 * is read and checked before any GPU work, and the output is only written when all went well.
 */
export async function runKernelFile(
  getRuntime: () => Promise<Runtime>,
  entry: KernelEntry,
  inputPath: string,
  outputPath: string,
): Promise<void> {
  const { inputs, options } = parseRequest(entry, readJsonFile(inputPath, 'input file'));
  validateInputs(entry, inputs);
  const rt = await getRuntime();
  const outputs = await runKernel(rt, entry, inputs, options);
  const body = {
    kernel: entry.name,
    options,
    outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, toJson(v)])),
    adapter: rt.report,
  };
  writeFileAtomic(outputPath, `${JSON.stringify(body)}\n`);
}

export interface CheckLine {
  kernel: string;
  shape: string;
  maxAbs: number;
  maxRel: number;
  ok: boolean;
  report: string;
}

/** Check one kernel at its default check sizes (or `dims`) against the CPU reference. */
export async function checkOne(
  rt: Runtime,
  entry: KernelEntry,
  opts: { seed: number; dims?: Record<string, number>; options?: Record<string, unknown> },
): Promise<CheckLine> {
  const dims = opts.dims ?? entry.checkDims;
  const options = parseOptions(entry, opts.options);
  const r = await checkKernel(rt, entry, dims, options, opts.seed);
  const cmps = Object.values(r.outputs);
  return {
    kernel: entry.name,
    shape:
      Object.entries(dims)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') + (Object.keys(options).length ? ` ${JSON.stringify(options)}` : ''),
    maxAbs: Math.max(...cmps.map((c) => c.maxAbsError)),
    maxRel: Math.max(...cmps.map((c) => c.maxRelError)),
    ok: r.ok,
    report: cmps
      .filter((c) => !c.ok)
      .map((c) => c.report)
      .join('\n'),
  };
}

export function formatCheck(lines: CheckLine[]): string {
  const rows = lines.map(
    (l) =>
      `${l.ok ? 'ok  ' : 'FAIL'}  ${l.kernel.padEnd(24)} ${l.shape.padEnd(30)} max abs err ${l.maxAbs.toExponential(2)}  rel err (max|diff|/max|ref|) ${l.maxRel.toExponential(2)}${l.ok ? '' : `\n${l.report}`}`,
  );
  return rows.join('\n');
}

/** Parse `--dims M=64,N=32,K=16` into a record. */
export function parseDims(entry: KernelEntry, text: string): Record<string, number> {
  const dims: Record<string, number> = {};
  const valid = [...new Set([...Object.keys(entry.checkDims), ...entry.cases.flatMap((c) => Object.keys(c.dims))])];
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z]+)\s*=\s*(\d+)\s*$/.exec(part);
    if (!m)
      throw new UserError(
        `--dims: "${part}" is not NAME=INTEGER; ${entry.name} takes ${valid.join(', ')} (e.g. ${formatDims(entry.checkDims)})`,
      );
    if (!valid.includes(m[1]))
      throw new UserError(`--dims: ${entry.name} has no size ${m[1]}; its sizes are ${valid.join(', ')}`);
    const v = Number(m[2]);
    // A size is >= 1; a few dims are counts or flags that may be 0 (the entry's own cases show which).
    const zeroOk = [entry.checkDims, ...entry.cases.map((c) => c.dims)].some((d) => d[m[1]] === 0);
    if (v < (zeroOk ? 0 : 1)) throw new UserError(`--dims: ${m[1]} must be >= 1`);
    dims[m[1]] = v;
  }
  return { ...entry.checkDims, ...dims };
}

export { describeAdapter, findKernel };
