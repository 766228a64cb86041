/**
 * A stack of pre-layernorm transformer blocks on the GPU, shared by the token transformer and the
 * in-context regression transformer: per block, a = LN1(x); q, k, v = a·W{q,k,v}ᵀ + b; multi-head
 * attention (causal or not); mid = x + o·woᵀ + bo; m = LN2(mid); out = mid + GELU(m·w1ᵀ + b1)·w2ᵀ + b2.
 * Parameters `h{l}.ln1.w` ... `h{l}.mlp.b2` (names of src/reference/transformer.ts) are read from the
 * model's parameter arena and their gradients written (overwritten) into its gradient arena. Every
 * activation and work tensor is allocated once, for B sequences of T positions.
 */
import type { Arena } from '../gpu/arena.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import {
  type AttentionScratch,
  attention_backward,
  attention_decode,
  attention_forward,
  attentionScratch,
} from '../kernels/attention.ts';
import { layernorm_backward, layernorm_forward } from '../kernels/layernorm.ts';
import { matmul } from '../kernels/matmul.ts';
import { column_sum } from '../kernels/reduce.ts';

export interface BlocksShape {
  B: number;
  T: number;
  /** Model width C, heads H (dividing C), MLP width M, layers L. */
  C: number;
  H: number;
  M: number;
  L: number;
  causal: boolean;
}

/** Activations of one block, kept for the backward pass. */
interface BlockActs {
  x: Tensor; // block input [BT, C]
  a: Tensor; // ln1 out
  mean1: Tensor;
  rstd1: Tensor;
  q: Tensor; // [B, C]: decode's new queries, keys and values (the forward writes heads directly)
  k: Tensor;
  v: Tensor;
  qh: Tensor; // [B, H, T, hs]
  kh: Tensor;
  vh: Tensor;
  att: Tensor; // [B, H, T, T]
  o: Tensor; // attention's output, heads merged [BT, C]
  mid: Tensor; // x + o·woᵀ + bo
  m: Tensor; // ln2 out
  mean2: Tensor;
  rstd2: Tensor;
  fc: Tensor; // [BT, M] before GELU
  g: Tensor; // GELU(fc)
}

export class TransformerBlocks {
  /** The first block's input [BT, C]: the caller writes the embedded sequence here. */
  readonly input: Tensor;
  /** The last block's output [BT, C]. */
  readonly output: Tensor;
  private readonly acts: BlockActs[] = [];
  private readonly scratch: AttentionScratch;
  private readonly w: Record<string, Tensor>;
  private readonly owned: Tensor[] = [];
  private readonly hs: number;

  constructor(
    private readonly rt: Runtime,
    readonly shape: BlocksShape,
    private readonly params: Arena,
    private readonly grads: Arena,
    label: string,
  ) {
    const { B, T, C, H, M, L } = shape;
    const BT = B * T;
    this.hs = C / H;
    const t = (s: number[], name: string) => {
      const x = rt.empty(s, 'f32', `${label}.${name}`);
      this.owned.push(x);
      return x;
    };
    const heads = [B, H, T, this.hs];
    for (let l = 0; l < L; l++) {
      const p = `h${l}.`;
      this.acts.push({
        x: t([BT, C], `${p}x`),
        a: t([BT, C], `${p}a`),
        mean1: t([BT], `${p}mean1`),
        rstd1: t([BT], `${p}rstd1`),
        q: t([B, C], `${p}q`),
        k: t([B, C], `${p}k`),
        v: t([B, C], `${p}v`),
        qh: t(heads, `${p}qh`),
        kh: t(heads, `${p}kh`),
        vh: t(heads, `${p}vh`),
        att: t([B, H, T, T], `${p}att`),
        o: t([BT, C], `${p}o`),
        mid: t([BT, C], `${p}mid`),
        m: t([BT, C], `${p}m`),
        mean2: t([BT], `${p}mean2`),
        rstd2: t([BT], `${p}rstd2`),
        fc: t([BT, M], `${p}fc`),
        g: t([BT, M], `${p}g`),
      });
    }
    this.input = this.acts[0].x;
    this.output = t([BT, C], 'out');
    this.scratch = attentionScratch(rt, B, H, T, `${label}.attention`);
    this.owned.push(this.scratch.s0, this.scratch.s1);
    this.w = {
      dres0: t([BT, C], 'dres0'),
      dres1: t([BT, C], 'dres1'),
      dmid: t([BT, C], 'dmid'),
      dfc: t([BT, M], 'dfc'),
      dm: t([BT, C], 'dm'),
      doh: t(heads, 'doh'),
      dq: t([BT, C], 'dq'),
      dk: t([BT, C], 'dk'),
      dv: t([BT, C], 'dv'),
      da: t([BT, C], 'da'),
    };
  }

  /** output from input, through every block. */
  forward(): void {
    const { rt } = this;
    const { B, T, H, causal } = this.shape;
    const hs = this.hs;
    const p = this.params.views;
    for (let l = 0; l < this.acts.length; l++) {
      const a = this.acts[l];
      const n = `h${l}.`;
      layernorm_forward(rt, a.a, a.mean1, a.rstd1, a.x, p[`${n}ln1.w`], p[`${n}ln1.b`]);
      // The projections write [B, H, T, hs] directly and attention its output [B, T, H, hs]: no permutes.
      for (const [out, wn] of [
        [a.qh, 'q'],
        [a.kh, 'k'],
        [a.vh, 'v'],
      ] as const) {
        matmul(rt, out, a.a, p[`${n}attn.w${wn}`], { transB: true, bias: p[`${n}attn.b${wn}`], heads: 'split' });
      }
      attention_forward(rt, rt.view(a.o, 0, [B, T, H, hs]), a.att, a.qh, a.kh, a.vh, this.scratch, { causal, merged: true });
      // The residual adds and GELU are the products' epilogues (the same bits as separate kernels).
      matmul(rt, a.mid, a.o, p[`${n}attn.wo`], { transB: true, bias: p[`${n}attn.bo`], residual: a.x });
      layernorm_forward(rt, a.m, a.mean2, a.rstd2, a.mid, p[`${n}ln2.w`], p[`${n}ln2.b`]);
      matmul(rt, a.fc, a.m, p[`${n}mlp.w1`], { transB: true, bias: p[`${n}mlp.b1`], geluOut: a.g });
      const out = l + 1 < this.acts.length ? this.acts[l + 1].x : this.output;
      matmul(rt, out, a.g, p[`${n}mlp.w2`], { transB: true, bias: p[`${n}mlp.b2`], residual: a.mid });
    }
  }

  /**
   * One new position per sequence (generation with a KV cache): from the first B rows of input
   * (the new tokens' embeddings) to the first B rows of output, with sequence b's token at position
   * pos[b] ([B] u32, < T). Each layer's keys and values of the earlier positions come from its kh and
   * vh, which the last forward filled (the prompt's) and earlier decode steps extended: this step
   * writes row pos[b] of them. The other activations' first B rows are overwritten, so a backward
   * needs a new forward first. Causal blocks only.
   */
  decode(pos: Tensor): void {
    const { rt } = this;
    const { B, C, H, M, causal } = this.shape;
    if (!causal) throw new ShapeError('transformer blocks: decode needs causal attention (each position sees only earlier ones)');
    const hs = this.hs;
    const p = this.params.views;
    const rows = (t: Tensor, n: number) => rt.view(t, 0, [B, n]);
    const vec = (t: Tensor) => rt.view(t, 0, [B]);
    for (let l = 0; l < this.acts.length; l++) {
      const a = this.acts[l];
      const n = `h${l}.`;
      const x = rows(a.x, C);
      const ln1 = rows(a.a, C);
      layernorm_forward(rt, ln1, vec(a.mean1), vec(a.rstd1), x, p[`${n}ln1.w`], p[`${n}ln1.b`]);
      for (const [out, wn] of [
        [a.q, 'q'],
        [a.k, 'k'],
        [a.v, 'v'],
      ] as const) {
        matmul(rt, rows(out, C), ln1, p[`${n}attn.w${wn}`], { transB: true, bias: p[`${n}attn.b${wn}`] });
      }
      const heads = (t: Tensor) => rt.view(t, 0, [B, H, hs]);
      attention_decode(rt, heads(a.o), a.kh, a.vh, heads(a.q), heads(a.k), heads(a.v), pos);
      const mid = rows(a.mid, C);
      matmul(rt, mid, rows(a.o, C), p[`${n}attn.wo`], { transB: true, bias: p[`${n}attn.bo`], residual: x });
      const ln2 = rows(a.m, C);
      layernorm_forward(rt, ln2, vec(a.mean2), vec(a.rstd2), mid, p[`${n}ln2.w`], p[`${n}ln2.b`]);
      const g = rows(a.g, M);
      matmul(rt, rows(a.fc, M), ln2, p[`${n}mlp.w1`], { transB: true, bias: p[`${n}mlp.b1`], geluOut: g });
      const out = rows(l + 1 < this.acts.length ? this.acts[l + 1].x : this.output, C);
      matmul(rt, out, g, p[`${n}mlp.w2`], { transB: true, bias: p[`${n}mlp.b2`], residual: mid });
    }
  }

  /**
   * Every block parameter's gradient (overwritten) from dout [BT, C], the gradient of the loss with
   * respect to output; returns the gradient with respect to input (a work tensor of this object,
   * valid until the next backward).
   */
  backward(dout: Tensor): Tensor {
    const { rt } = this;
    const { B, T, H } = this.shape;
    const hs = this.hs;
    const p = this.params.views;
    const g = this.grads.views;
    const w = this.w;
    let dres = dout;
    let spare = w.dres0;
    for (let l = this.acts.length - 1; l >= 0; l--) {
      const a = this.acts[l];
      const n = `h${l}.`;
      // MLP: out = mid + GELU(m·w1ᵀ + b1)·w2ᵀ + b2.
      matmul(rt, g[`${n}mlp.w2`], dres, a.g, { transA: true });
      column_sum(rt, g[`${n}mlp.b2`], dres);
      matmul(rt, w.dfc, dres, p[`${n}mlp.w2`], { geluGradAt: a.fc });
      matmul(rt, g[`${n}mlp.w1`], w.dfc, a.m, { transA: true });
      column_sum(rt, g[`${n}mlp.b1`], w.dfc);
      matmul(rt, w.dm, w.dfc, p[`${n}mlp.w1`]);
      // The residual connections' gradients are summed in the layernorm backward passes.
      layernorm_backward(rt, w.dmid, g[`${n}ln2.w`], g[`${n}ln2.b`], w.dm, a.mid, p[`${n}ln2.w`], a.mean2, a.rstd2, {
        residual: dres,
      });
      // Attention: mid = x + o·woᵀ + bo.
      matmul(rt, g[`${n}attn.wo`], w.dmid, a.o, { transA: true });
      column_sum(rt, g[`${n}attn.bo`], w.dmid);
      matmul(rt, w.doh, w.dmid, p[`${n}attn.wo`], { heads: 'split' });
      const merged = (x: Tensor) => rt.view(x, 0, [B, T, H, hs]);
      attention_backward(rt, merged(w.dq), merged(w.dk), merged(w.dv), w.doh, a.qh, a.kh, a.vh, a.att, this.scratch, {
        causal: this.shape.causal,
        merged: true,
      });
      const projections = [
        [w.dq, 'q'],
        [w.dk, 'k'],
        [w.dv, 'v'],
      ] as const;
      for (const [d, wn] of projections) {
        matmul(rt, g[`${n}attn.w${wn}`], d, a.a, { transA: true });
        column_sum(rt, g[`${n}attn.b${wn}`], d);
      }
      projections.forEach(([d, wn], i) => {
        matmul(rt, w.da, d, p[`${n}attn.w${wn}`], { accumulate: i > 0 });
      });
      layernorm_backward(rt, spare, g[`${n}ln1.w`], g[`${n}ln1.b`], w.da, a.x, p[`${n}ln1.w`], a.mean1, a.rstd1, {
        residual: w.dmid,
      });
      [dres, spare] = [spare, dres === dout ? w.dres1 : dres];
    }
    return dres;
  }

  get bytes(): number {
    return this.owned.reduce((s, t) => s + t.byteLength, 0);
  }

  destroy(): void {
    for (const t of this.owned) t.destroy();
  }
}
