/**
 * Autoregressive generation with the token transformer, on the GPU: each new token is sampled by
 * sample_tokens (temperature 0: argmax) from the logits at the sequence's last position, one full
 * forward per generated position (no KV cache: the sequences here are at most a few dozen tokens).
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
  const tokens = new Uint32Array(B * T);
  const zeros = new Float32Array(B * T);
  for (let iter = 0; iter < opts.maxNew && done.some((d) => !d); iter++) {
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) tokens[b * T + t] = t < seqs[b].length ? seqs[b][t] : opts.pad;
    }
    model.setBatch(tokens, tokens, zeros);
    // One submission per new token (the forward's dispatches and the sampling), not one per dispatch.
    rt.batch('generate', () => {
      model.forward();
      sample_tokens(rt, rt.view(sampled, 0, [B * T]), model.logits, {
        seed: opts.seed,
        step: opts.step,
        stream: iter,
        temperature: opts.temperature,
      });
    });
    const ids = await rt.read(rt.view(sampled, 0, [B * T]));
    for (let b = 0; b < B; b++) {
      if (done[b]) continue;
      const next = ids[b * T + seqs[b].length - 1];
      seqs[b].push(next);
      if (next === opts.eos || seqs[b].length >= T) done[b] = true;
    }
  }
  return prompts.map((p, b) => seqs[b].slice(p.length));
}
