/**
 * Checkpoints: everything a run needs to continue exactly where it stopped (the plan, the phase and
 * step, the model's parameters, the optimizer's moments, the data stream's position, the current
 * phase's curated selection, and the metrics of the phases already done), encoded as bytes with a
 * SHA-256 checksum so a truncated or corrupted file is refused instead of silently resumed.
 * Works in Node and in the browser (Web Crypto); where the bytes are stored is the caller's choice
 * (files written atomically in Node).
 *
 * Layout: magic "WGTCKPT1", u32 header length, header JSON (UTF-8), the f32 arrays in header order,
 * then the 32-byte SHA-256 of everything before it.
 */
import { UserError } from '../device/errors.ts';
import type { SuiteMetrics } from './suite.ts';
import type { Plan } from './plan.ts';

export interface Checkpoint {
  plan: Plan;
  /** The phase in progress (or the next one, at a phase boundary), and the steps done in it. */
  phase: number;
  step: number;
  globalStep: number;
  /** The name and shape of each parameter tensor (the arena's layout): what "the same model" means. */
  paramShapes: { name: string; shape: number[] }[];
  /** The parameter arena, and the optimizer's moments and step count for the current phase. */
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  optStep: number;
  /** The current phase's data stream position. */
  rng: { counter: number; pos: number };
  /** The current phase's curated ids (SFT/RL from a pool), kept so a resume does not re-select. */
  selection?: number[];
  /** The current phase's NaN rollbacks so far and its learning-rate factor after them (plan.onNonFinite). */
  rollbacks?: number;
  lrScale?: number;
  /** Held-out metrics of the phases already finished. */
  results: { name: string; metrics: SuiteMetrics; validation?: SuiteMetrics }[];
}

/** A checkpoint that cannot be used: truncated, corrupted, or from another plan or model shape. */
export class CheckpointError extends UserError {
  override name = 'CheckpointError';
}

const MAGIC = 'WGTCKPT1';
const ARRAYS = ['params', 'm', 'v'] as const;

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes.slice()));
}

export async function encodeCheckpoint(c: Checkpoint): Promise<Uint8Array> {
  const { params, m, v, ...rest } = c;
  const header = new TextEncoder().encode(JSON.stringify({ ...rest, lengths: ARRAYS.map((k) => c[k].length) }));
  const bodyLength = 8 + 4 + header.length + ARRAYS.reduce((s, k) => s + c[k].byteLength, 0);
  const out = new Uint8Array(bodyLength + 32);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, header.length, true);
  out.set(header, 12);
  let at = 12 + header.length;
  for (const k of ARRAYS) {
    out.set(new Uint8Array(c[k].buffer, c[k].byteOffset, c[k].byteLength), at);
    at += c[k].byteLength;
  }
  out.set(await sha256(out.subarray(0, bodyLength)), bodyLength);
  return out;
}

/** Decode and verify a checkpoint; `what` names it (a file path) in the errors. */
export async function decodeCheckpoint(bytes: Uint8Array, what = 'checkpoint'): Promise<Checkpoint> {
  if (bytes.length < 12 + 32 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw new CheckpointError(`${what} is not a checkpoint of this program (or is truncated): the header is missing`);
  }
  const bodyLength = bytes.length - 32;
  const want = await sha256(bytes.subarray(0, bodyLength));
  const got = bytes.subarray(bodyLength);
  if (!want.every((b, i) => b === got[i])) {
    throw new CheckpointError(`${what} is corrupted or truncated: its SHA-256 checksum does not match its contents`);
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)));
  const arrays: Record<string, Float32Array> = {};
  let at = 12 + headerLength;
  for (const [i, k] of ARRAYS.entries()) {
    const n = header.lengths[i] as number;
    arrays[k] = new Float32Array(bytes.slice(at, at + n * 4).buffer);
    at += n * 4;
  }
  delete header.lengths;
  return { ...header, ...arrays } as Checkpoint;
}
