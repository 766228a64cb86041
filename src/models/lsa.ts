/**
 * Linear self-attention (LSA) for in-context weight prediction, on the GPU. A batch holds B prompts
 * of n pairs (x_i, y_i), x_i in R^d; the model predicts each prompt's weight vector w:
 *   h = (1/n) sum_i y_i x_i       (batched matmul of y [B, 1, n] and X [B, n, d])
 *   merged:      pred = Gamma h
 *   factorised:  u = Q h, pred = P u   (Q [k, d] key-query, P [d, k] value/projection: pretraining
 *                can shape Q's features before P uses them, a capability that can stay latent)
 * Loss: mean over the batch of ||pred - w||^2 (mse_loss). Parameters and their gradients live in
 * one arena each, so one optimizer dispatch updates them all. Buffers are allocated once.
 * The CPU twin is src/reference/lsa.ts.
 */
import { Arena } from '../gpu/arena.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { matmul } from '../kernels/matmul.ts';
import { sum } from '../kernels/reduce.ts';
import { mse_loss } from '../kernels/regression.ts';
import { Rng } from '../reference/random.ts';

export type LsaForm = 'merged' | 'factorised';

export interface LsaConfig {
  form: LsaForm;
  /** Dimension of x and w. */
  d: number;
  /** Pairs per prompt. */
  n: number;
  /** Prompts per batch. */
  batch: number;
  /** Hidden width of the factorised form (default d). */
  k?: number;
  /** Standard deviation of the initial weights (default 0.1 / sqrt(d)). */
  initStd?: number;
  seed?: number;
}

export class LsaModel {
  readonly params: Arena;
  readonly grads: Arena;
  readonly k: number;
  /** Inputs of the current batch: X [B, n, d], y/n as [B, 1, n], w [B, d]. */
  readonly X: Tensor;
  readonly yOverN: Tensor;
  readonly w: Tensor;
  /** Activations and their gradients. */
  readonly h: Tensor;
  readonly u: Tensor | undefined;
  readonly du: Tensor | undefined;
  readonly pred: Tensor;
  readonly dpred: Tensor;
  readonly losses: Tensor;
  /** Mean loss of the last forward, [1] (read it back only when needed). */
  readonly loss: Tensor;

  constructor(
    private readonly rt: Runtime,
    readonly config: LsaConfig,
  ) {
    const { form, d, n, batch: B } = config;
    for (const [name, v] of [
      ['d', d],
      ['n', n],
      ['batch', B],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError(`LSA model: ${name} must be an integer >= 1, got ${v}`);
    }
    this.k = config.k ?? d;
    if (!Number.isInteger(this.k) || this.k < 1) throw new ShapeError(`LSA model: k must be an integer >= 1, got ${config.k}`);
    const slots =
      form === 'merged'
        ? [{ name: 'gamma', shape: [d, d] }]
        : [
            { name: 'Q', shape: [this.k, d] },
            { name: 'P', shape: [d, this.k] },
          ];
    this.params = new Arena(rt, 'lsa.params', slots);
    this.grads = new Arena(rt, 'lsa.grads', slots);
    this.X = rt.empty([B, n, d], 'f32', 'lsa.X');
    this.yOverN = rt.empty([B, 1, n], 'f32', 'lsa.y_over_n');
    this.w = rt.empty([B, d], 'f32', 'lsa.w');
    this.h = rt.empty([B, 1, d], 'f32', 'lsa.h');
    this.u = form === 'factorised' ? rt.empty([B, this.k], 'f32', 'lsa.u') : undefined;
    this.du = form === 'factorised' ? rt.empty([B, this.k], 'f32', 'lsa.du') : undefined;
    this.pred = rt.empty([B, d], 'f32', 'lsa.pred');
    this.dpred = rt.empty([B, d], 'f32', 'lsa.dpred');
    this.losses = rt.empty([B], 'f32', 'lsa.losses');
    this.loss = rt.empty([1], 'f32', 'lsa.loss');
    this.initParams();
  }

  /** Seeded normal initial weights (both factors non-zero: zero is a saddle of the factorised form). */
  initParams(): void {
    const rng = new Rng(this.config.seed ?? 1);
    const std = this.config.initStd ?? 0.1 / Math.sqrt(this.config.d);
    for (const t of Object.values(this.params.views))
      this.rt.write(
        t,
        Array.from({ length: t.size }, () => rng.normal() * std),
      );
  }

  /** Upload a batch: X [B*n*d], y [B*n], w [B*d] (row-major, as plain arrays). */
  setBatch(X: ArrayLike<number>, y: ArrayLike<number>, w: ArrayLike<number>): void {
    const { n } = this.config;
    this.rt.write(this.X, X);
    this.rt.write(
      this.yOverN,
      Array.from(y, (v) => v / n),
    );
    this.rt.write(this.w, w);
  }

  /** h as [B, d] (the batched matmul writes it as [B, 1, d]). */
  private get h2(): Tensor {
    return this.rt.view(this.h, 0, [this.config.batch, this.config.d]);
  }

  /** pred from the current batch. */
  forward(): void {
    const { rt } = this;
    const p = this.params.views;
    matmul(rt, this.h, this.yOverN, this.X);
    if (this.config.form === 'merged') {
      matmul(rt, this.pred, this.h2, p.gamma, { transB: true });
    } else {
      matmul(rt, this.u as Tensor, this.h2, p.Q, { transB: true });
      matmul(rt, this.pred, this.u as Tensor, p.P, { transB: true });
    }
  }

  /** forward, the loss and dpred, then every parameter gradient (overwritten). */
  forwardBackward(): void {
    this.forward();
    mse_loss(this.rt, this.losses, this.dpred, this.pred, this.w);
    sum(this.rt, this.loss, this.losses, { scale: 1 / this.config.batch });
    this.backward(this.dpred);
  }

  /**
   * Every parameter gradient (overwritten) from dpred [B, d], the gradient of any loss with respect
   * to the last forward's prediction: the regression loss, or a policy gradient (RL with a Gaussian
   * policy around pred).
   */
  backward(dpred: Tensor): void {
    const { rt } = this;
    const p = this.params.views;
    const g = this.grads.views;
    if (this.config.form === 'merged') {
      matmul(rt, g.gamma, dpred, this.h2, { transA: true });
    } else {
      const u = this.u as Tensor;
      const du = this.du as Tensor;
      matmul(rt, g.P, dpred, u, { transA: true });
      matmul(rt, du, dpred, p.P);
      matmul(rt, g.Q, du, this.h2, { transA: true });
    }
  }

  /** Bytes of GPU memory this model holds. */
  get bytes(): number {
    const tensors = [this.X, this.yOverN, this.w, this.h, this.u, this.du, this.pred, this.dpred, this.losses, this.loss];
    return this.params.all.byteLength + this.grads.all.byteLength + tensors.reduce((s, t) => s + (t ? t.byteLength : 0), 0);
  }

  destroy(): void {
    this.params.destroy();
    this.grads.destroy();
    for (const t of [this.X, this.yOverN, this.w, this.h, this.u, this.du, this.pred, this.dpred, this.losses, this.loss])
      t?.destroy();
  }
}
