/**
 * A tiny GPT-2-style decoder-only transformer on the GPU, built from the kernels: token and position
 * embeddings, L blocks (layernorm -> causal multi-head attention -> residual -> layernorm -> MLP with
 * GELU -> residual, see blocks.ts), a final layernorm and an output head; mean cross-entropy over
 * masked positions. Linear layers compute y = x·Wᵀ + b with W [out, in]. Parameter names, shapes, the
 * init and the math are those of the CPU reference, src/reference/transformer.ts, against which the
 * tests check it. Every buffer is allocated once, for a fixed batch B and sequence length T.
 */
import { Arena } from '../gpu/arena.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { cross_entropy_backward, cross_entropy_forward } from '../kernels/cross_entropy.ts';
import { embedding_backward, embedding_forward } from '../kernels/embedding.ts';
import { layernorm_backward, layernorm_forward } from '../kernels/layernorm.ts';
import { matmul } from '../kernels/matmul.ts';
import { sum } from '../kernels/reduce.ts';
import { type TransformerConfig, transformer_init, transformer_param_shapes } from '../reference/transformer.ts';
import { TransformerBlocks } from './blocks.ts';

export type { TransformerConfig } from '../reference/transformer.ts';

export class TransformerModel {
  readonly params: Arena;
  readonly grads: Arena;
  readonly B: number;
  readonly T: number;
  readonly tokens: Tensor; // [B, T] u32
  readonly targets: Tensor; // [BT] u32
  readonly mask: Tensor; // [BT]
  readonly logits: Tensor; // [BT, V]
  readonly losses: Tensor; // [BT]
  readonly loss: Tensor; // [1]
  /** The gradient of the loss with respect to the logits [BT, V], by lossBackward or an RL objective. */
  readonly dlogits: Tensor;
  private readonly blocks: TransformerBlocks;
  private readonly f: Tensor; // lnf out
  private readonly meanf: Tensor;
  private readonly rstdf: Tensor;
  private readonly dln: Tensor;
  private readonly dx: Tensor;
  private readonly owned: Tensor[] = [];
  private maskSum = 0;

  constructor(
    private readonly rt: Runtime,
    readonly config: TransformerConfig,
    batch: { B: number; T: number },
    seed = 1,
  ) {
    const { vocab: V, context, dModel: C, layers: L, heads: H } = config;
    const { B, T } = batch;
    for (const [name, v] of Object.entries({ vocab: V, context, dModel: C, layers: L, heads: H, B, T })) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError(`transformer: ${name} must be an integer >= 1, got ${v}`);
    }
    if (C % H !== 0) throw new ShapeError(`transformer: heads (${H}) must divide dModel (${C})`);
    if (T > context)
      throw new ShapeError(`transformer: sequence length T = ${T} exceeds the position table (context = ${context})`);
    this.B = B;
    this.T = T;
    const BT = B * T;
    const slots = transformer_param_shapes(config);
    this.params = new Arena(rt, 'tf.params', slots);
    this.grads = new Arena(rt, 'tf.grads', slots);
    const init = transformer_init(config, seed);
    for (const s of slots) rt.write(this.params.views[s.name], init[s.name]);
    this.blocks = new TransformerBlocks(
      rt,
      { B, T, C, H, M: config.mlp ?? 4 * C, L, causal: true },
      this.params,
      this.grads,
      'tf',
    );
    const t = (shape: number[], label: string, dtype: 'f32' | 'u32' = 'f32') => {
      const x = rt.empty(shape, dtype, `tf.${label}`);
      this.owned.push(x);
      return x;
    };
    this.tokens = t([B, T], 'tokens', 'u32');
    this.targets = t([BT], 'targets', 'u32');
    this.mask = t([BT], 'mask');
    this.f = t([BT, C], 'f');
    this.meanf = t([BT], 'meanf');
    this.rstdf = t([BT], 'rstdf');
    this.logits = t([BT, V], 'logits');
    this.losses = t([BT], 'losses');
    this.loss = t([1], 'loss');
    this.dlogits = t([BT, V], 'dlogits');
    this.dln = t([BT, C], 'dln');
    this.dx = t([BT, C], 'dx');
  }

  /** Upload a batch: tokens and targets [B*T] integers in [0, V), mask [B*T] weights (default all 1). */
  setBatch(tokens: ArrayLike<number>, targets: ArrayLike<number>, mask?: ArrayLike<number>): void {
    const { vocab: V } = this.config;
    for (const [name, arr] of [
      ['tokens', tokens],
      ['targets', targets],
    ] as const) {
      for (let i = 0; i < arr.length; i++) {
        const v = arr[i];
        if (!Number.isInteger(v) || v < 0 || v >= V)
          throw new ShapeError(`transformer: ${name}[${i}] = ${v} is not a token id in [0, ${V})`);
      }
    }
    this.rt.write(this.tokens, tokens);
    this.rt.write(this.targets, targets);
    const m = mask ?? new Float32Array(this.B * this.T).fill(1);
    this.rt.write(this.mask, m);
    this.maskSum = 0;
    for (let i = 0; i < m.length; i++) this.maskSum += m[i];
  }

  /** logits for the current batch, and the per-position and mean losses. */
  forward(): void {
    const { rt, B, T } = this;
    const p = this.params.views;
    embedding_forward(rt, rt.view(this.blocks.input, 0, [B, T, this.config.dModel]), this.tokens, p.wte, p.wpe);
    this.blocks.forward();
    layernorm_forward(rt, this.f, this.meanf, this.rstdf, this.blocks.output, p['lnf.w'], p['lnf.b']);
    matmul(rt, this.logits, this.f, p.head, { transB: true });
    cross_entropy_forward(rt, this.losses, this.logits, this.targets, this.mask);
    sum(rt, this.loss, this.losses, { scale: this.maskSum > 0 ? 1 / this.maskSum : 0 });
  }

  /**
   * Logits [B, V] (a view of the first B rows of logits) for one new token per sequence, the
   * generation step with a KV cache: tokens [B] u32 (ids < V) at positions [B] u32 (< T), sequence
   * b's earlier positions read from the keys and values that the last forward and the decode steps
   * since then left in the blocks (see TransformerBlocks.decode). The caller keeps the positions
   * consecutive: a forward over the prompts first, then one decode per new token. Overwrites the
   * activations' first B rows (a backward needs a new forward).
   */
  decode(tokens: Tensor, positions: Tensor): Tensor {
    const { rt, B } = this;
    const { dModel: C, vocab: V } = this.config;
    const p = this.params.views;
    embedding_forward(
      rt,
      rt.view(this.blocks.input, 0, [B, 1, C]),
      rt.view(tokens, 0, [B, 1]),
      p.wte,
      p.wpe,
      rt.view(positions, 0, [B, 1]),
    );
    this.blocks.decode(positions);
    const f = rt.view(this.f, 0, [B, C]);
    const stats = (t: Tensor) => rt.view(t, 0, [B]);
    layernorm_forward(
      rt,
      f,
      stats(this.meanf),
      stats(this.rstdf),
      rt.view(this.blocks.output, 0, [B, C]),
      p['lnf.w'],
      p['lnf.b'],
    );
    const logits = rt.view(this.logits, 0, [B, V]);
    matmul(rt, logits, f, p.head, { transB: true });
    return logits;
  }

  /** forward, then the gradient of the mean cross-entropy for every parameter (overwritten). */
  forwardBackward(): void {
    this.forward();
    cross_entropy_backward(this.rt, this.dlogits, this.logits, this.targets, this.mask, this.maskSum > 0 ? 1 / this.maskSum : 0);
    this.backward(this.dlogits);
  }

  /**
   * The gradient of every parameter (overwritten) from dlogits [BT, V], the gradient of any loss with
   * respect to the logits of the last forward (cross-entropy, or a policy-gradient objective).
   */
  backward(dlogits: Tensor): void {
    const { rt, B, T } = this;
    const p = this.params.views;
    const g = this.grads.views;
    matmul(rt, g.head, dlogits, this.f, { transA: true });
    matmul(rt, this.dln, dlogits, p.head);
    layernorm_backward(rt, this.dx, g['lnf.w'], g['lnf.b'], this.dln, this.blocks.output, p['lnf.w'], this.meanf, this.rstdf);
    const dx0 = this.blocks.backward(this.dx);
    embedding_backward(rt, g.wte, g.wpe, rt.view(dx0, 0, [B, T, this.config.dModel]), this.tokens);
  }

  /** Bytes of GPU memory the model holds (parameters, gradients, activations, work tensors). */
  get bytes(): number {
    return (
      this.params.all.byteLength +
      this.grads.all.byteLength +
      this.blocks.bytes +
      this.owned.reduce((s, t) => s + t.byteLength, 0)
    );
  }

  destroy(): void {
    this.params.destroy();
    this.grads.destroy();
    this.blocks.destroy();
    for (const t of this.owned) t.destroy();
  }
}
