/**
 * A tiny GPT-2-style decoder-only transformer on the GPU, built from the kernels: token and position
 * embeddings, L blocks (layernorm -> causal multi-head attention -> residual -> layernorm -> MLP with
 * GELU -> residual), a final layernorm and an output head; mean cross-entropy over masked positions.
 * Linear layers compute y = x·Wᵀ + b with W [out, in]. Parameter names, shapes, the init and the math
 * are those of the CPU reference, src/reference/transformer.ts, against which the tests check it.
 * Every buffer is allocated once, for a fixed batch B and sequence length T.
 */
import { Arena } from '../gpu/arena.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import {
  type AttentionScratch,
  attention_backward,
  attention_forward,
  attentionScratch,
  permute_0213,
} from '../kernels/attention.ts';
import { cross_entropy_backward, cross_entropy_forward } from '../kernels/cross_entropy.ts';
import { add, gelu_backward, gelu_forward } from '../kernels/elementwise.ts';
import { embedding_backward, embedding_forward } from '../kernels/embedding.ts';
import { layernorm_backward, layernorm_forward } from '../kernels/layernorm.ts';
import { matmul } from '../kernels/matmul.ts';
import { sum } from '../kernels/reduce.ts';
import { type TransformerConfig, transformer_init, transformer_param_shapes } from '../reference/transformer.ts';

export type { TransformerConfig } from '../reference/transformer.ts';

/** Activations of one block, kept for the backward pass. */
interface BlockActs {
  x: Tensor; // block input [BT, C]
  a: Tensor; // ln1 out
  mean1: Tensor;
  rstd1: Tensor;
  q: Tensor; // [BT, C]
  k: Tensor;
  v: Tensor;
  qh: Tensor; // [B, H, T, hs]
  kh: Tensor;
  vh: Tensor;
  att: Tensor; // [B, H, T, T]
  oh: Tensor; // [B, H, T, hs]
  o: Tensor; // heads merged [BT, C]
  proj: Tensor; // o·woᵀ + bo
  mid: Tensor; // x + proj
  m: Tensor; // ln2 out
  mean2: Tensor;
  rstd2: Tensor;
  fc: Tensor; // [BT, M] pre-GELU
  g: Tensor; // GELU(fc)
  mlp: Tensor; // g·w2ᵀ + b2 [BT, C]
}

export class TransformerModel {
  readonly params: Arena;
  readonly grads: Arena;
  readonly B: number;
  readonly T: number;
  readonly C: number;
  readonly H: number;
  readonly hs: number;
  readonly M: number;
  readonly tokens: Tensor; // [B, T] u32
  readonly targets: Tensor; // [BT] u32
  readonly mask: Tensor; // [BT]
  readonly logits: Tensor; // [BT, V]
  readonly losses: Tensor; // [BT]
  readonly loss: Tensor; // [1]
  private readonly blocks: BlockActs[] = [];
  private readonly out: Tensor; // residual stream after the last block
  private readonly f: Tensor; // lnf out
  private readonly meanf: Tensor;
  private readonly rstdf: Tensor;
  private readonly ones: Tensor; // [1, BT], for bias gradients (column sums as a matmul)
  private readonly scratch: AttentionScratch;
  /** Backward work tensors, shared by the layers. */
  private readonly w: Record<string, Tensor>;
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
    this.C = C;
    this.H = H;
    this.hs = C / H;
    this.M = config.mlp ?? 4 * C;
    const BT = B * T;
    const slots = transformer_param_shapes(config);
    this.params = new Arena(rt, 'tf.params', slots);
    this.grads = new Arena(rt, 'tf.grads', slots);
    const init = transformer_init(config, seed);
    for (const s of slots) rt.write(this.params.views[s.name], init[s.name]);

    const t = (shape: number[], label: string, dtype: 'f32' | 'u32' = 'f32') => {
      const x = rt.empty(shape, dtype, `tf.${label}`);
      this.owned.push(x);
      return x;
    };
    this.tokens = t([B, T], 'tokens', 'u32');
    this.targets = t([BT], 'targets', 'u32');
    this.mask = t([BT], 'mask');
    const heads = [B, H, T, this.hs];
    for (let l = 0; l < L; l++) {
      const p = `h${l}.`;
      this.blocks.push({
        x: t([BT, C], `${p}x`),
        a: t([BT, C], `${p}a`),
        mean1: t([BT], `${p}mean1`),
        rstd1: t([BT], `${p}rstd1`),
        q: t([BT, C], `${p}q`),
        k: t([BT, C], `${p}k`),
        v: t([BT, C], `${p}v`),
        qh: t(heads, `${p}qh`),
        kh: t(heads, `${p}kh`),
        vh: t(heads, `${p}vh`),
        att: t([B, H, T, T], `${p}att`),
        oh: t(heads, `${p}oh`),
        o: t([BT, C], `${p}o`),
        proj: t([BT, C], `${p}proj`),
        mid: t([BT, C], `${p}mid`),
        m: t([BT, C], `${p}m`),
        mean2: t([BT], `${p}mean2`),
        rstd2: t([BT], `${p}rstd2`),
        fc: t([BT, this.M], `${p}fc`),
        g: t([BT, this.M], `${p}g`),
        mlp: t([BT, C], `${p}mlp`),
      });
    }
    this.out = t([BT, C], 'out');
    this.f = t([BT, C], 'f');
    this.meanf = t([BT], 'meanf');
    this.rstdf = t([BT], 'rstdf');
    this.logits = t([BT, V], 'logits');
    this.losses = t([BT], 'losses');
    this.loss = t([1], 'loss');
    this.ones = t([1, BT], 'ones');
    rt.write(this.ones, new Float32Array(BT).fill(1));
    this.scratch = attentionScratch(rt, B, H, T, 'tf.attention');
    this.owned.push(this.scratch.s0, this.scratch.s1);
    this.w = {
      dlogits: t([BT, V], 'dlogits'),
      dres0: t([BT, C], 'dres0'),
      dres1: t([BT, C], 'dres1'),
      dln: t([BT, C], 'dln'),
      dmid: t([BT, C], 'dmid'),
      dg: t([BT, this.M], 'dg'),
      dfc: t([BT, this.M], 'dfc'),
      dm: t([BT, C], 'dm'),
      do: t([BT, C], 'do'),
      doh: t(heads, 'doh'),
      dqh: t(heads, 'dqh'),
      dkh: t(heads, 'dkh'),
      dvh: t(heads, 'dvh'),
      dq: t([BT, C], 'dq'),
      dk: t([BT, C], 'dk'),
      dv: t([BT, C], 'dv'),
      da: t([BT, C], 'da'),
    };
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

  /** The parameter (or gradient) named `name` as a [1, n] row, for bias gradients. */
  private row(arena: Arena, name: string): Tensor {
    const v = arena.views[name];
    return this.rt.view(arena.all, arena.offsets[name], [1, v.size], `${v.label}.row`);
  }

  /** logits for the current batch, and the per-position and mean losses. */
  forward(): void {
    const { rt, B, T, C, H, hs } = this;
    const p = this.params.views;
    embedding_forward(rt, rt.view(this.blocks[0].x, 0, [B, T, C]), this.tokens, p.wte, p.wpe);
    for (let l = 0; l < this.blocks.length; l++) {
      const a = this.blocks[l];
      const n = `h${l}.`;
      layernorm_forward(rt, a.a, a.mean1, a.rstd1, a.x, p[`${n}ln1.w`], p[`${n}ln1.b`]);
      for (const [out, wn] of [
        [a.q, 'q'],
        [a.k, 'k'],
        [a.v, 'v'],
      ] as const) {
        matmul(rt, out, a.a, p[`${n}attn.w${wn}`], { transB: true, bias: p[`${n}attn.b${wn}`] });
      }
      permute_0213(rt, a.qh, rt.view(a.q, 0, [B, T, H, hs]));
      permute_0213(rt, a.kh, rt.view(a.k, 0, [B, T, H, hs]));
      permute_0213(rt, a.vh, rt.view(a.v, 0, [B, T, H, hs]));
      attention_forward(rt, a.oh, a.att, a.qh, a.kh, a.vh, this.scratch, { causal: true });
      permute_0213(rt, rt.view(a.o, 0, [B, T, H, hs]), a.oh);
      matmul(rt, a.proj, a.o, p[`${n}attn.wo`], { transB: true, bias: p[`${n}attn.bo`] });
      add(rt, a.mid, a.x, a.proj);
      layernorm_forward(rt, a.m, a.mean2, a.rstd2, a.mid, p[`${n}ln2.w`], p[`${n}ln2.b`]);
      matmul(rt, a.fc, a.m, p[`${n}mlp.w1`], { transB: true, bias: p[`${n}mlp.b1`] });
      gelu_forward(rt, a.g, a.fc);
      matmul(rt, a.mlp, a.g, p[`${n}mlp.w2`], { transB: true, bias: p[`${n}mlp.b2`] });
      add(rt, l + 1 < this.blocks.length ? this.blocks[l + 1].x : this.out, a.mid, a.mlp);
    }
    layernorm_forward(rt, this.f, this.meanf, this.rstdf, this.out, p['lnf.w'], p['lnf.b']);
    matmul(rt, this.logits, this.f, p.head, { transB: true });
    cross_entropy_forward(rt, this.losses, this.logits, this.targets, this.mask);
    sum(rt, this.loss, this.losses, { scale: this.maskSum > 0 ? 1 / this.maskSum : 0 });
  }

  /** The gradient of the loss with respect to the logits [BT, V], written by lossBackward or by an RL objective. */
  get dlogits(): Tensor {
    return this.w.dlogits;
  }

  /** forward, then the gradient of the mean cross-entropy for every parameter (overwritten). */
  forwardBackward(): void {
    this.forward();
    cross_entropy_backward(
      this.rt,
      this.w.dlogits,
      this.logits,
      this.targets,
      this.mask,
      this.maskSum > 0 ? 1 / this.maskSum : 0,
    );
    this.backward(this.w.dlogits);
  }

  /**
   * The gradient of every parameter (overwritten) from dlogits [BT, V], the gradient of any loss with
   * respect to the logits of the last forward (cross-entropy, or a policy-gradient objective).
   */
  backward(dlogits: Tensor): void {
    const { rt, B, T, H, hs } = this;
    const p = this.params.views;
    const g = this.grads.views;
    const w = this.w;
    matmul(rt, g.head, dlogits, this.f, { transA: true });
    matmul(rt, w.dln, dlogits, p.head);
    let dres = w.dres0;
    let spare = w.dres1;
    layernorm_backward(rt, dres, g['lnf.w'], g['lnf.b'], w.dln, this.out, p['lnf.w'], this.meanf, this.rstdf);
    for (let l = this.blocks.length - 1; l >= 0; l--) {
      const a = this.blocks[l];
      const n = `h${l}.`;
      // MLP: mlp = GELU(m·w1ᵀ + b1)·w2ᵀ + b2, residual: out = mid + mlp.
      matmul(rt, g[`${n}mlp.w2`], dres, a.g, { transA: true });
      matmul(rt, this.row(this.grads, `${n}mlp.b2`), this.ones, dres);
      matmul(rt, w.dg, dres, p[`${n}mlp.w2`]);
      gelu_backward(rt, w.dfc, w.dg, a.fc);
      matmul(rt, g[`${n}mlp.w1`], w.dfc, a.m, { transA: true });
      matmul(rt, this.row(this.grads, `${n}mlp.b1`), this.ones, w.dfc);
      matmul(rt, w.dm, w.dfc, p[`${n}mlp.w1`]);
      layernorm_backward(rt, w.dln, g[`${n}ln2.w`], g[`${n}ln2.b`], w.dm, a.mid, p[`${n}ln2.w`], a.mean2, a.rstd2);
      add(rt, w.dmid, dres, w.dln);
      // Attention: proj = o·woᵀ + bo, residual: mid = x + proj.
      matmul(rt, g[`${n}attn.wo`], w.dmid, a.o, { transA: true });
      matmul(rt, this.row(this.grads, `${n}attn.bo`), this.ones, w.dmid);
      matmul(rt, w.do, w.dmid, p[`${n}attn.wo`]);
      permute_0213(rt, w.doh, rt.view(w.do, 0, [B, T, H, hs]));
      attention_backward(rt, w.dqh, w.dkh, w.dvh, w.doh, a.qh, a.kh, a.vh, a.att, this.scratch);
      permute_0213(rt, rt.view(w.dq, 0, [B, T, H, hs]), w.dqh);
      permute_0213(rt, rt.view(w.dk, 0, [B, T, H, hs]), w.dkh);
      permute_0213(rt, rt.view(w.dv, 0, [B, T, H, hs]), w.dvh);
      const projections = [
        [w.dq, 'q'],
        [w.dk, 'k'],
        [w.dv, 'v'],
      ] as const;
      for (const [d, wn] of projections) {
        matmul(rt, g[`${n}attn.w${wn}`], d, a.a, { transA: true });
        matmul(rt, this.row(this.grads, `${n}attn.b${wn}`), this.ones, d);
      }
      projections.forEach(([d, wn], i) => {
        matmul(rt, w.da, d, p[`${n}attn.w${wn}`], { accumulate: i > 0 });
      });
      layernorm_backward(rt, w.dln, g[`${n}ln1.w`], g[`${n}ln1.b`], w.da, a.x, p[`${n}ln1.w`], a.mean1, a.rstd1);
      add(rt, spare, w.dmid, w.dln);
      [dres, spare] = [spare, dres];
    }
    embedding_backward(rt, g.wte, g.wpe, rt.view(dres, 0, [B, T, this.C]), this.tokens);
  }

  /** Bytes of GPU memory the model holds (parameters, gradients, activations, work tensors). */
  get bytes(): number {
    return this.params.all.byteLength + this.grads.all.byteLength + this.owned.reduce((s, t) => s + t.byteLength, 0);
  }

  destroy(): void {
    this.params.destroy();
    this.grads.destroy();
    for (const t of this.owned) t.destroy();
  }
}
