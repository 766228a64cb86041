/**
 * Autoregressive generation with the token transformer, on the GPU: each new token is sampled by
 * sample_tokens (temperature 0: argmax) from the logits at the sequence's last position. One forward
 * over the padded prompts fills every layer's keys and values (the KV cache); then each new token
 * costs one decode step (TransformerModel.decode: B rows through the blocks, attention against the
 * cache) instead of a forward over all B * T positions. `cache: false` runs the full forward for
 * every token instead (the same math; the sums' order differs, so the logits can differ in the last
 * bits). Each draw uses the Philox counter of its position (row b * T + t) either way, so both give
 * the same samples but where rounding moves a draw across a CDF boundary or breaks an argmax tie.
 * The sampled ids come back to the CPU after each position, where the verifier needs them anyway.
 * Same seed, step and prompts: the same completions, in Node and in the browser.
 */
import { ShapeError } from '../gpu/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { sample_tokens } from '../kernels/sampling.ts';
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
  const seqs = Array.from({ length: B }, (_, b) => [...prompts[Math.min(b, prompts.length - 1)]]);
  const done = seqs.map((_, b) => b >= prompts.length);
  const sampled: Tensor = rt.scratch('generate.sampled', B * T, 'u32');
  // The decode step's inputs: each sequence's newest token, its position, and its draw's counter row.
  const step = {
    tokens: rt.view(rt.scratch('generate.tokens', B, 'u32'), 0, [B]),
    positions: rt.view(rt.scratch('generate.positions', B, 'u32'), 0, [B]),
    rows: rt.view(rt.scratch('generate.rows', B, 'u32'), 0, [B]),
  };
  const tokens = new Uint32Array(B * T);
  const zeros = new Float32Array(B * T);
  const sampling = (iter: number) => ({ seed: opts.seed, step: opts.step, stream: iter, temperature: opts.temperature });
  for (let iter = 0; iter < opts.maxNew && done.some((d) => !d); iter++) {
    // One submission per new token (the dispatches and the sampling), not one per dispatch.
    let ids: Uint32Array;
    let rowOf: (b: number) => number;
    if (iter === 0 || opts.cache === false) {
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) tokens[b * T + t] = t < seqs[b].length ? seqs[b][t] : opts.pad;
      }
      model.setBatch(tokens, tokens, zeros);
      rt.batch('generate', () => {
        model.forward();
        sample_tokens(rt, rt.view(sampled, 0, [B * T]), model.logits, sampling(iter));
      });
      ids = (await rt.read(rt.view(sampled, 0, [B * T]))) as Uint32Array;
      rowOf = (b) => b * T + seqs[b].length - 1;
    } else {
      // Finished sequences repeat their last position: harmless, their results are not read.
      const at = seqs.map((s) => s.length - 1);
      rt.write(
        step.tokens,
        Uint32Array.from(seqs, (s) => s[s.length - 1]),
      );
      rt.write(step.positions, Uint32Array.from(at));
      rt.write(
        step.rows,
        Uint32Array.from(at, (t, b) => b * T + t),
      );
      rt.batch('generate', () => {
        const logits = model.decode(step.tokens, step.positions);
        sample_tokens(rt, rt.view(sampled, 0, [B]), logits, sampling(iter), step.rows);
      });
      ids = (await rt.read(rt.view(sampled, 0, [B]))) as Uint32Array;
      rowOf = (b) => b;
    }
    for (let b = 0; b < B; b++) {
      if (done[b]) continue;
      const next = ids[rowOf(b)];
      seqs[b].push(next);
      if (next === opts.eos || seqs[b].length >= T) done[b] = true;
    }
  }
  return prompts.map((p, b) => seqs[b].slice(p.length));
}
