/**
 * A small softmax-attention transformer for in-context weight prediction (the nonlinear case of the
 * paper's setting), on the GPU. A prompt's n pairs become n tokens z_i = [x_i, y_i], embedded by a
 * linear layer (no positions: the prompt is a set), then L pre-LN blocks with non-causal attention
 * (blocks.ts), a mean over the tokens, a final layernorm and a linear head that predicts w [d].
 * Loss: mean over the batch of ||pred - w||^2. Names, shapes, init and math are those of the CPU
 * reference, src/reference/icl-transformer.ts.
 */
import { Arena } from '../gpu/arena.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { layernorm_backward, layernorm_forward } from '../kernels/layernorm.ts';
import { matmul } from '../kernels/matmul.ts';
import { column_sum, sum } from '../kernels/reduce.ts';
import { mse_loss } from '../kernels/regression.ts';
import { type IclTransformerConfig, icl_init, icl_param_shapes } from '../reference/icl-transformer.ts';
import { TransformerBlocks } from './blocks.ts';

export type { IclTransformerConfig } from '../reference/icl-transformer.ts';

export class IclTransformerModel {
  readonly params: Arena;
  readonly grads: Arena;
  readonly B: number;
  /** Inputs: tokens z [B*n, d+1] and targets w [B, d]. */
  readonly z: Tensor;
  readonly w: Tensor;
  readonly pred: Tensor; // [B, d]
  readonly dpred: Tensor;
  readonly losses: Tensor; // [B]
  readonly loss: Tensor; // [1]
  private readonly blocks: TransformerBlocks;
  private readonly onesOverN: Tensor; // [B, 1, n], all 1/n: the mean over tokens as a batched matmul
  private readonly pooled: Tensor; // [B, 1, C]
  private readonly f: Tensor; // [B, C]
  private readonly meanf: Tensor;
  private readonly rstdf: Tensor;
  private readonly df: Tensor;
  private readonly dpooled: Tensor; // [B, 1, C]
  private readonly dout: Tensor; // [B, n, C]
  private readonly owned: Tensor[] = [];

  constructor(
    private readonly rt: Runtime,
    readonly config: IclTransformerConfig,
    batch: number,
    seed = 1,
  ) {
    const { d, n, dModel: C, layers: L, heads: H } = config;
    for (const [name, v] of Object.entries({ d, n, dModel: C, layers: L, heads: H, batch })) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError(`ICL transformer: ${name} must be an integer >= 1, got ${v}`);
    }
    if (C % H !== 0) throw new ShapeError(`ICL transformer: heads (${H}) must divide dModel (${C})`);
    const B = batch;
    this.B = B;
    const slots = icl_param_shapes(config);
    this.params = new Arena(rt, 'icl.params', slots);
    this.grads = new Arena(rt, 'icl.grads', slots);
    const init = icl_init(config, seed);
    for (const s of slots) rt.write(this.params.views[s.name], init[s.name]);
    this.blocks = new TransformerBlocks(
      rt,
      { B, T: n, C, H, M: config.mlp ?? 4 * C, L, causal: false },
      this.params,
      this.grads,
      'icl',
    );
    const t = (shape: number[], label: string) => {
      const x = rt.empty(shape, 'f32', `icl.${label}`);
      this.owned.push(x);
      return x;
    };
    this.z = t([B * n, d + 1], 'z');
    this.w = t([B, d], 'w');
    this.pred = t([B, d], 'pred');
    this.dpred = t([B, d], 'dpred');
    this.losses = t([B], 'losses');
    this.loss = t([1], 'loss');
    this.onesOverN = t([B, 1, n], 'ones_over_n');
    rt.write(this.onesOverN, new Float32Array(B * n).fill(1 / n));
    this.pooled = t([B, 1, C], 'pooled');
    this.f = t([B, C], 'f');
    this.meanf = t([B], 'meanf');
    this.rstdf = t([B], 'rstdf');
    this.df = t([B, C], 'df');
    this.dpooled = t([B, 1, C], 'dpooled');
    this.dout = t([B, n, C], 'dout');
  }

  /** Upload a batch: X [B*n*d], y [B*n], w [B*d] (row-major). */
  setBatch(X: ArrayLike<number>, y: ArrayLike<number>, w: ArrayLike<number>): void {
    const { d, n } = this.config;
    const N = this.B * n;
    if (X.length !== N * d || y.length !== N || w.length !== this.B * d) {
      throw new ShapeError(`ICL transformer: a batch needs X [${this.B}, ${n}, ${d}], y [${this.B}, ${n}], w [${this.B}, ${d}]`);
    }
    const z = new Float32Array(N * (d + 1));
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < d; j++) z[i * (d + 1) + j] = X[i * d + j];
      z[i * (d + 1) + d] = y[i];
    }
    this.rt.write(this.z, z);
    this.rt.write(this.w, w);
  }

  /** pred from the current batch. */
  forward(): void {
    const { rt, B } = this;
    const { n, dModel: C } = this.config;
    const p = this.params.views;
    matmul(rt, this.blocks.input, this.z, p['in.w'], { transB: true, bias: p['in.b'] });
    this.blocks.forward();
    matmul(rt, this.pooled, this.onesOverN, rt.view(this.blocks.output, 0, [B, n, C]));
    layernorm_forward(rt, this.f, this.meanf, this.rstdf, rt.view(this.pooled, 0, [B, C]), p['lnf.w'], p['lnf.b']);
    matmul(rt, this.pred, this.f, p['out.w'], { transB: true, bias: p['out.b'] });
  }

  /** forward, the loss and dpred, then every parameter gradient (overwritten). */
  forwardBackward(): void {
    this.forward();
    mse_loss(this.rt, this.losses, this.dpred, this.pred, this.w);
    sum(this.rt, this.loss, this.losses, { scale: 1 / this.B });
    this.backward(this.dpred);
  }

  /** Every parameter gradient (overwritten) from dpred [B, d], the gradient of any loss with respect to pred. */
  backward(dpred: Tensor): void {
    const { rt, B } = this;
    const { n, dModel: C } = this.config;
    const p = this.params.views;
    const g = this.grads.views;
    matmul(rt, g['out.w'], dpred, this.f, { transA: true });
    column_sum(rt, g['out.b'], dpred);
    matmul(rt, this.df, dpred, p['out.w']);
    layernorm_backward(
      rt,
      rt.view(this.dpooled, 0, [B, C]),
      g['lnf.w'],
      g['lnf.b'],
      this.df,
      rt.view(this.pooled, 0, [B, C]),
      p['lnf.w'],
      this.meanf,
      this.rstdf,
    );
    // The mean over tokens spreads dpooled / n to every token: [B, n, 1] · [B, 1, C].
    matmul(rt, this.dout, this.onesOverN, this.dpooled, { transA: true });
    const dx0 = this.blocks.backward(rt.view(this.dout, 0, [B * n, C]));
    matmul(rt, g['in.w'], dx0, this.z, { transA: true });
    column_sum(rt, g['in.b'], dx0);
  }

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
