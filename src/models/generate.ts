/**
 * Autoregressive generation with the token transformer, on the GPU: each new token is sampled by
 * sample_tokens (temperature 0: argmax) from the logits at the sequence's last position. One forward
 * over the padded prompts fills every layer's keys and values (the KV cache); then each new token
 * costs one decode step (TransformerModel.decode: B rows through the blocks, attention against the
 * cache) instead of a forward over all B * T positions. `cache: false` runs the full forward for
 * every token instead (the same math; the sums' order differs, so the logits can differ in the last
 * bits). Each draw uses the Philox counter of its position (row b * T + t) either way, so both give
 * the same samples but where rounding moves a draw across a CDF boundary or breaks an argmax tie.
 * With the cache, the decode steps after the first token are queued in one submission, each reading
 * the tokens the step before sampled on the GPU, and the ids come back to the CPU once at the end
 * (a round trip per token cost about as much as a decode step itself on SwiftShader); a sequence
 * that ended early is computed on and its samples dropped. Without it, after each token.
 * Same seed, step and prompts: the same completions, in Node and in the browser.
 */
import { ShapeError } from '../gpu/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { type SampleTokensOptions, sample_tokens } from '../kernels/sampling.ts';
import type { TransformerModel } from './transformer.ts';

export interface GenerateOptions {
  /** At most this many new tokens per prompt. */
  maxNew: number;
  /** 0: greedy (argmax, first maximum). */
  temperature: number;
  /** Philox key and step: the same values give the same samples. */
  seed: number;
  step: number;
  /** Stop a sequence after this token (included in its completion). */
  eos?: number;
  /** Fills the positions after a sequence's end (any valid id; never read for the next token). */
  pad: number;
  /** Decode with the KV cache (default true); false: a full forward per new token. */
  cache?: boolean;
}

/** Completions (the new tokens only) for up to B prompts, each of length < T. */
export async function generate(
  rt: Runtime,
  model: TransformerModel,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions,
): Promise<number[][]> {
  const { B, T } = model;
  if (prompts.length === 0 || prompts.length > B)
    throw new ShapeError(`generate: give 1 to ${B} prompts (the model's batch), got ${prompts.length}`);
  for (const [i, p] of prompts.entries()) {
    if (p.length === 0 || p.length >= T)
      throw new ShapeError(`generate: prompt ${i} has ${p.length} tokens; it needs 1 to ${T - 1} (T = ${T})`);
  }
  if (opts.maxNew < 1) return prompts.map(() => []);
  const seqs = Array.from({ length: B }, (_, b) => [...prompts[Math.min(b, prompts.length - 1)]]);
  const done = seqs.map((_, b) => b >= prompts.length);
  /** Append `next` to sequence b unless it has ended (EOS, or the context is full). */
  const take = (b: number, next: number) => {
    if (done[b]) return;
    seqs[b].push(next);
    if (next === opts.eos || seqs[b].length >= T) done[b] = true;
  };
  const sampled: Tensor = rt.scratch('generate.sampled', B * T, 'u32');
  const tokens = new Uint32Array(B * T);
  const zeros = new Float32Array(B * T);
  const sampling = (iter: number) => ({ seed: opts.seed, step: opts.step, stream: iter, temperature: opts.temperature });
  /** A full forward over the sequences so far (padded), and the token sampled after each one's last. */
  const forwardStep = async (iter: number) => {
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) tokens[b * T + t] = t < seqs[b].length ? seqs[b][t] : opts.pad;
    }
    model.setBatch(tokens, tokens, zeros);
    rt.batch('generate', () => {
      model.forward();
      sample_tokens(rt, rt.view(sampled, 0, [B * T]), model.logits, sampling(iter));
    });
    const ids = (await rt.read(rt.view(sampled, 0, [B * T]))) as Uint32Array;
    const at = seqs.map((s) => s.length - 1);
    for (let b = 0; b < B; b++) take(b, ids[b * T + at[b]]);
  };
  // The first token: one forward over the prompts, which also fills every layer's keys and values.
  await forwardStep(0);
  // Then up to maxNew - 1 more, while a sequence goes on: the shortest live one reaches T last.
  const live = seqs.filter((_, b) => !done[b]).map((s) => s.length);
  const steps = live.length ? Math.min(opts.maxNew, T - Math.min(...live) + 1) : 1;
  if (opts.cache === false) {
    for (let iter = 1; iter < steps && done.some((d) => !d); iter++) await forwardStep(iter);
  } else if (steps > 1) {
    await decodeSteps(rt, model, seqs, steps, sampling, take);
  }
  return prompts.map((p, b) => seqs[b].slice(p.length));
}

/**
 * Steps 1 .. steps - 1 of generation with the KV cache, queued in one submission with one read back
 * at the end: each decode step reads the tokens the step before sampled where they lie on the GPU.
 * Sequence b's step i takes its newest token at position L_b + i - 1 (L_b: its length after the
 * first token's forward, less one), the Philox row b * T + that position: what a step at a time
 * would give it. A sequence that has ended (EOS, a full context) goes on being computed, at most at
 * position T - 1, and its samples are not taken; a row's values never depend on another row's.
 */
async function decodeSteps(
  rt: Runtime,
  model: TransformerModel,
  seqs: number[][],
  steps: number,
  sampling: (iter: number) => SampleTokensOptions,
  take: (b: number, next: number) => void,
): Promise<void> {
  const { B, T } = model;
  // Each step's slice of the chained buffers starts at an offset a view may bind.
  const align = rt.limits.minStorageBufferOffsetAlignment / 4;
  const stride = Math.ceil(B / align) * align;
  const n = steps * stride;
  const chain = rt.view(rt.scratch('generate.chain', n, 'u32'), 0, [n]);
  const positions = rt.view(rt.scratch('generate.positions', n, 'u32'), 0, [n]);
  const rows = rt.view(rt.scratch('generate.rows', n, 'u32'), 0, [n]);
  const slice = (t: Tensor, i: number) => rt.view(t, i * stride, [B]);
  const base = seqs.map((s) => s.length);
  const at = new Uint32Array(n);
  for (let i = 1; i < steps; i++) for (let b = 0; b < B; b++) at[i * stride + b] = Math.min(base[b] + i - 2, T - 1);
  rt.write(positions, at);
  rt.write(
    rows,
    at.map((t, j) => (j % stride) * T + t),
  );
  // Step 0's slice holds each sequence's newest token (the first forward's sample; for one that has
  // ended, whatever it ended on: its samples are not taken).
  rt.write(
    slice(chain, 0),
    seqs.map((s) => s[s.length - 1]),
  );
  rt.batch('generate', () => {
    for (let i = 1; i < steps; i++) {
      const logits = model.decode(slice(chain, i - 1), slice(positions, i));
      sample_tokens(rt, slice(chain, i), logits, sampling(i), slice(rows, i));
    }
  });
  const ids = (await rt.read(chain)) as Uint32Array;
  for (let i = 1; i < steps; i++) for (let b = 0; b < B; b++) take(b, ids[i * stride + b]);
}
