/**
 * Pointer chasing: a verifiable multi-step token task with an explicit chain of thought (setting B in
 * shared/notes/science.md). The prompt writes a random permutation π of P nodes as pairs (i, π(i)) in
 * shuffled order, then a start s and a hop count k; the completion is the chain of k states, ANS, the
 * answer (the last state) and EOS. Difficulty = k; domains = variants:
 *   'forward'  each step x -> π(x)
 *   'inverse'  each step x -> π⁻¹(x)
 *   'double'   each step x -> π(π(x))  (only every second state is written)
 *
 * Vocabulary (P = cfg.nodes), ids independent of which variants a config uses, so models trained on
 * configs that differ only in `variants` share token ids:
 *   0 .. P-1   node tokens (also used to write the hop count k: hence maxHops < nodes)
 *   P          BOS
 *   P+1        SEP   between two pairs
 *   P+2        Q     the query follows: start, hop count
 *   P+3        ANS   the answer follows
 *   P+4        EOS
 *   P+5        PAD   after EOS (never a training target)
 *   P+6 ..     one marker per variant, in the order of POINTER_VARIANTS: FWD, INV, DBL
 *
 * Sequence: BOS, marker, a1 b1 SEP a2 b2 SEP ... aP bP, Q, s, k | c1 ... ck, ANS, ck, EOS
 * (prompt: 3P + 4 tokens; completion: k + 3 tokens). With the defaults (P = 8, maxHops = 6) the
 * prompt is 28 tokens and the longest sequence 37, within the tiny preset's context of 64.
 *
 * Layouts of the permutation in the prompt (config `layout`):
 *   'pairs' (the default)  the pairs (i, π(i)) in shuffled order, separated by SEP: each hop is a lookup
 *                          by content (find the pair whose first node is the current state), the
 *                          induction-style head a small transformer learns slowly;
 *   'table'                π(0) π(1) ... π(P-1) in order: each hop is a lookup by position (the state
 *                          names the slot to read), which a one-layer attention can learn, so the task's
 *                          difficulty comes from chaining k hops rather than from the single lookup.
 *   Table sequence: BOS, marker, π(0) ... π(P-1), Q, s, k | c1 ... ck, ANS, ck, EOS (prompt P + 5).
 *
 * The true trajectory s, c1, ..., ck never repeats a state: the permutation is drawn uniformly among
 * those whose cycle through s is long enough (see samplePermutation), so any repeated state in a
 * model's chain is a loop, not part of the right answer. For 'double' on an even P this caps k at P - 2.
 */
import { UserError } from '../device/errors.ts';
import { Rng } from '../reference/random.ts';

export const POINTER_VARIANTS = ['forward', 'inverse', 'double'] as const;
export type PointerVariant = (typeof POINTER_VARIANTS)[number];
export const POINTER_LAYOUTS = ['pairs', 'table'] as const;
export type PointerLayout = (typeof POINTER_LAYOUTS)[number];

export interface PointerTaskConfig {
  /** P: number of nodes in the permutation (node tokens 0..P-1). */
  nodes: number;
  /** Largest hop count k; the hop count is written as a node token, so maxHops < nodes. */
  maxHops: number;
  /** Variants this task draws from (the domains). Token ids do not depend on this list. */
  variants: PointerVariant[];
  /** Model context: the longest sequence (prompt + maxHops + 3 completion tokens) must fit. */
  context: number;
  /** How the prompt writes π: shuffled pairs (the default) or a table in node order. */
  layout?: PointerLayout;
}

/** The fields that decide the prompt's shape. */
type PromptShape = Pick<PointerTaskConfig, 'nodes' | 'layout'>;

/** Defaults: 17 tokens (fits the tiny preset's vocab 32), longest sequence 37 of a context of 64. */
export const defaultPointerConfig: PointerTaskConfig = {
  nodes: 8,
  maxHops: 6,
  variants: ['forward', 'inverse', 'double'],
  context: 64,
};

/** A config, a mix or an argument the task cannot use; `field` names what is wrong. */
export class PointerTaskError extends UserError {
  override name = 'PointerTaskError';
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`pointer task: ${field}: ${detail}`);
  }
}

const MARKER_NAMES: Record<PointerVariant, string> = { forward: 'FWD', inverse: 'INV', double: 'DBL' };
const SPECIAL_NAMES = ['BOS', 'SEP', 'Q', 'ANS', 'EOS', 'PAD'] as const;

export interface PointerTokens {
  BOS: number;
  SEP: number;
  Q: number;
  ANS: number;
  EOS: number;
  PAD: number;
  marker: Record<PointerVariant, number>;
}

/** The special token ids for a config (node tokens are 0..nodes-1). */
export function pointerTokens(cfg: Pick<PointerTaskConfig, 'nodes'>): PointerTokens {
  const P = cfg.nodes;
  const marker = {} as Record<PointerVariant, number>;
  POINTER_VARIANTS.forEach((v, i) => {
    marker[v] = P + SPECIAL_NAMES.length + i;
  });
  return { BOS: P, SEP: P + 1, Q: P + 2, ANS: P + 3, EOS: P + 4, PAD: P + 5, marker };
}

/** Number of token ids: nodes + 6 specials + 3 markers. */
export function vocabSize(cfg: Pick<PointerTaskConfig, 'nodes'>): number {
  return cfg.nodes + SPECIAL_NAMES.length + POINTER_VARIANTS.length;
}

/** Readable name of a token id: the node number, BOS/SEP/Q/ANS/EOS/PAD, FWD/INV/DBL, or `?<id>`. */
export function tokenName(cfg: Pick<PointerTaskConfig, 'nodes'>, id: number): string {
  const P = cfg.nodes;
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize(cfg)) return `?${id}`;
  if (id < P) return String(id);
  if (id < P + SPECIAL_NAMES.length) return SPECIAL_NAMES[id - P];
  return MARKER_NAMES[POINTER_VARIANTS[id - P - SPECIAL_NAMES.length]];
}

/** Tokens as space-separated names, for dumps and error messages. */
export function renderTokens(cfg: Pick<PointerTaskConfig, 'nodes'>, tokens: ArrayLike<number>): string {
  return Array.from(tokens, (t) => tokenName(cfg, t)).join(' ');
}

/**
 * Prompt length: BOS, marker, the permutation, Q, start, hop count. Pairs: P pairs (2P) with P-1 SEPs,
 * 3P + 4 in all; table: P + 5.
 */
export function promptLength(cfg: PromptShape): number {
  return (cfg.layout ?? 'pairs') === 'table' ? cfg.nodes + 5 : 3 * cfg.nodes + 4;
}

/** Completion length for k hops: the chain (k), ANS, answer, EOS. */
export function completionLength(k: number): number {
  return k + 3;
}

/** Tokens of the longest sequence (prompt + completion at maxHops). */
export function maxSequenceLength(cfg: PromptShape & Pick<PointerTaskConfig, 'maxHops'>): number {
  return promptLength(cfg) + completionLength(cfg.maxHops);
}

/** How many tokens a rollout may write after the prompt so that prompt + output fits the context. */
export function generationLimit(cfg: PointerTaskConfig): number {
  return cfg.context - promptLength(cfg);
}

/** Distinct states on the step map's orbit through s, when s lies on a cycle of length L of π. */
function orbitLength(variant: PointerVariant, L: number): number {
  return variant === 'double' && L % 2 === 0 ? L / 2 : L;
}

/** Largest k for which a loop-free chain exists: the longest orbit over cycle lengths L <= P, minus 1. */
export function maxFeasibleHops(nodes: number, variant: PointerVariant): number {
  let best = 0;
  for (let L = 1; L <= nodes; L++) best = Math.max(best, orbitLength(variant, L));
  return best - 1;
}

function isPosInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1;
}

/**
 * Throws PointerTaskError (naming the field) unless the config is usable: nodes >= 2, 1 <= maxHops < nodes
 * (and loop-free chains exist for every variant), known variants without repeats, and the longest
 * sequence fits the context. With `modelVocab`, the vocabulary must fit it too.
 */
export function validatePointerConfig(cfg: PointerTaskConfig, opts: { modelVocab?: number } = {}): void {
  if (!isPosInt(cfg.nodes) || cfg.nodes < 2) throw new PointerTaskError('nodes', `must be an integer >= 2, got ${cfg.nodes}`);
  if (!isPosInt(cfg.maxHops)) throw new PointerTaskError('maxHops', `must be an integer >= 1, got ${cfg.maxHops}`);
  if (cfg.maxHops >= cfg.nodes)
    throw new PointerTaskError(
      'maxHops',
      `${cfg.maxHops} must be < nodes = ${cfg.nodes}: the hop count is written as a node token (0..${cfg.nodes - 1})`,
    );
  if (!Array.isArray(cfg.variants) || cfg.variants.length === 0)
    throw new PointerTaskError('variants', `needs at least one of ${POINTER_VARIANTS.join(', ')}`);
  const seen = new Set<string>();
  for (const v of cfg.variants) {
    if (!(POINTER_VARIANTS as readonly string[]).includes(v))
      throw new PointerTaskError('variants', `unknown variant '${v}' (known: ${POINTER_VARIANTS.join(', ')})`);
    if (seen.has(v)) throw new PointerTaskError('variants', `'${v}' is listed twice`);
    seen.add(v);
    const feasible = maxFeasibleHops(cfg.nodes, v);
    if (cfg.maxHops > feasible)
      throw new PointerTaskError(
        'maxHops',
        `${cfg.maxHops} is too many for variant '${v}' with nodes = ${cfg.nodes}: a chain without repeated states has at most ${feasible} steps`,
      );
  }
  if (cfg.layout !== undefined && !(POINTER_LAYOUTS as readonly string[]).includes(cfg.layout))
    throw new PointerTaskError('layout', `unknown layout '${cfg.layout}' (known: ${POINTER_LAYOUTS.join(', ')})`);
  if (!isPosInt(cfg.context)) throw new PointerTaskError('context', `must be an integer >= 1, got ${cfg.context}`);
  const need = maxSequenceLength(cfg);
  if (need > cfg.context)
    throw new PointerTaskError(
      'context',
      `the longest sequence needs ${need} tokens (prompt ${promptLength(cfg)} + chain ${cfg.maxHops} + ANS, answer, EOS) but the context allows ${cfg.context}`,
    );
  if (opts.modelVocab !== undefined && vocabSize(cfg) > opts.modelVocab)
    throw new PointerTaskError(
      'nodes',
      `the task needs ${vocabSize(cfg)} token ids (${cfg.nodes} nodes + ${SPECIAL_NAMES.length} specials + ${POINTER_VARIANTS.length} markers) but the model vocab is ${opts.modelVocab}`,
    );
}

/** One step of a variant's rule on a permutation (perm[i] = π(i)) and its inverse. */
export function stepOf(variant: PointerVariant, perm: readonly number[], inv: readonly number[], x: number): number {
  if (variant === 'forward') return perm[x];
  if (variant === 'inverse') return inv[x];
  return perm[perm[x]];
}

function inverseOf(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  for (let i = 0; i < perm.length; i++) inv[perm[i]] = i;
  return inv;
}

function shuffle<T>(rng: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/**
 * A uniform random permutation of P nodes conditioned on the trajectory s, step(s), ..., step^k(s) having
 * no repeated state. In a uniform permutation the length L of the cycle through s is uniform on 1..P, and
 * given L the cycle's other members and the rest of the permutation are uniform; so: draw L uniformly
 * among the lengths whose orbit is long enough, then the cycle, then the rest.
 */
function samplePermutation(rng: Rng, P: number, s: number, variant: PointerVariant, k: number): number[] {
  const lengths: number[] = [];
  for (let L = 1; L <= P; L++) if (orbitLength(variant, L) >= k + 1) lengths.push(L);
  const L = lengths[rng.int(lengths.length)];
  const others = shuffle(
    rng,
    Array.from({ length: P }, (_, i) => i).filter((i) => i !== s),
  );
  const cycle = [s, ...others.slice(0, L - 1)];
  const perm = new Array<number>(P);
  for (let i = 0; i < L; i++) perm[cycle[i]] = cycle[(i + 1) % L];
  const rest = others.slice(L - 1);
  const image = shuffle(rng, rest.slice());
  for (let i = 0; i < rest.length; i++) perm[rest[i]] = image[i];
  return perm;
}

export interface PointerExample {
  variant: PointerVariant;
  k: number;
  start: number;
  /** perm[i] = π(i). */
  perm: number[];
  /** The states after each step: chain[i] = step^(i+1)(start); chain.length = k. */
  chain: number[];
  /** The final state, chain[k-1]. */
  answer: number;
  /** BOS, marker, pairs, Q, start, k. */
  prompt: number[];
  /** chain, ANS, answer, EOS. */
  completion: number[];
}

function checkVariantAndHops(cfg: PointerTaskConfig, variant: PointerVariant, k: number): void {
  if (!cfg.variants.includes(variant))
    throw new PointerTaskError('variant', `'${variant}' is not among the config's variants (${cfg.variants.join(', ')})`);
  if (!Number.isInteger(k) || k < 1 || k > cfg.maxHops)
    throw new PointerTaskError('k', `hop count ${k} is not an integer in [1, maxHops = ${cfg.maxHops}]`);
}

/** One example: a fresh permutation, a uniform start, pairs in shuffled order (or the table). Draws only from `rng`. */
export function makeExample(rng: Rng, cfg: PointerTaskConfig, variant: PointerVariant, k: number): PointerExample {
  validatePointerConfig(cfg);
  checkVariantAndHops(cfg, variant, k);
  const P = cfg.nodes;
  const tok = pointerTokens(cfg);
  const start = rng.int(P);
  const perm = samplePermutation(rng, P, start, variant, k);
  const inv = inverseOf(perm);
  const chain: number[] = [];
  let x = start;
  for (let i = 0; i < k; i++) {
    x = stepOf(variant, perm, inv, x);
    chain.push(x);
  }
  const prompt = [tok.BOS, tok.marker[variant]];
  if ((cfg.layout ?? 'pairs') === 'table') prompt.push(...perm);
  else {
    const order = shuffle(
      rng,
      Array.from({ length: P }, (_, i) => i),
    );
    order.forEach((i, j) => {
      if (j > 0) prompt.push(tok.SEP);
      prompt.push(i, perm[i]);
    });
  }
  prompt.push(tok.Q, start, k);
  const answer = chain[k - 1];
  return { variant, k, start, perm, chain, answer, prompt, completion: [...chain, tok.ANS, answer, tok.EOS] };
}

/** What a prompt says: variant, permutation, start, hop count. Throws PointerTaskError('prompt') if malformed. */
export function parsePrompt(
  cfg: PointerTaskConfig,
  prompt: readonly number[],
): { variant: PointerVariant; perm: number[]; start: number; k: number } {
  const P = cfg.nodes;
  const tok = pointerTokens(cfg);
  const bad = (why: string) => new PointerTaskError('prompt', `${why}: ${renderTokens(cfg, prompt)}`);
  if (prompt.length !== promptLength(cfg)) throw bad(`has ${prompt.length} tokens, expected ${promptLength(cfg)}`);
  if (prompt[0] !== tok.BOS) throw bad('does not start with BOS');
  const variant = POINTER_VARIANTS.find((v) => tok.marker[v] === prompt[1]);
  if (!variant) throw bad('second token is not a variant marker');
  const isNode = (t: number) => Number.isInteger(t) && t >= 0 && t < P;
  let perm = new Array<number>(P).fill(-1);
  if ((cfg.layout ?? 'pairs') === 'table') {
    perm = prompt.slice(2, 2 + P);
    if (!perm.every(isNode)) throw bad('the table holds a token that is not a node');
  } else
    for (let j = 0; j < P; j++) {
      const at = 2 + 3 * j;
      if (j > 0 && prompt[at - 1] !== tok.SEP) throw bad(`no SEP before pair ${j}`);
      const [a, b] = [prompt[at], prompt[at + 1]];
      if (!isNode(a) || !isNode(b) || perm[a] !== -1) throw bad(`pair ${j} is not a new (node, node) pair`);
      perm[a] = b;
    }
  if (new Set(perm).size !== P) throw bad('the pairs do not form a permutation');
  const q = promptLength(cfg) - 3;
  if (prompt[q] !== tok.Q || !isNode(prompt[q + 1]) || !isNode(prompt[q + 2])) throw bad('query is not Q, start, hop count');
  return { variant, perm, start: prompt[q + 1], k: prompt[q + 2] };
}

export interface SftBatch {
  /** [B*T] input token ids (PAD after the sequence). */
  tokens: Int32Array;
  /** [B*T] next-token targets: targets[t] = tokens[t+1] of the sequence, PAD past its end. */
  targets: Int32Array;
  /** [B*T] 1 where the target is a completion token (chain, ANS, answer, EOS), else 0. */
  mask: Float32Array;
}

/**
 * Next-token training rows, one per example, each T positions: position t holds sequence token t and
 * target token t+1. A sequence of L = prompt + completion tokens needs T >= L - 1 positions (the final
 * EOS is only a target; with T >= L it is also an input, with target PAD and mask 0).
 * mask = 1 exactly on the positions promptLength-1 .. L-2, whose targets are the completion.
 */
export function encodeSFT(examples: readonly PointerExample[], T: number): SftBatch {
  if (!isPosInt(T)) throw new PointerTaskError('T', `must be an integer >= 1, got ${T}`);
  const B = examples.length;
  const tokens = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  examples.forEach((ex, b) => {
    const PAD = pointerTokens({ nodes: ex.perm.length }).PAD;
    const seq = [...ex.prompt, ...ex.completion];
    if (seq.length - 1 > T)
      throw new PointerTaskError(
        'T',
        `example ${b} (${ex.variant}, k = ${ex.k}) needs ${seq.length - 1} positions (${seq.length} tokens, the last only a target) but T = ${T}`,
      );
    const row = b * T;
    for (let t = 0; t < T; t++) {
      tokens[row + t] = t < seq.length ? seq[t] : PAD;
      targets[row + t] = t + 1 < seq.length ? seq[t + 1] : PAD;
      mask[row + t] = t + 1 >= ex.prompt.length && t + 1 < seq.length ? 1 : 0;
    }
  });
  return { tokens, targets, mask };
}

export interface PointerResult {
  variant: PointerVariant;
  k: number;
  /** Well formed and the answer token equals the true answer. */
  correct: boolean;
  /** EOS appears in the output. */
  finished: boolean;
  /** The output up to its first EOS is: node tokens (possibly none), ANS, one node token, EOS. */
  wellFormed: boolean;
  /** The node token right after the first ANS (before EOS), else null. */
  answer: number | null;
  /** Node tokens before the first ANS (before the first EOS; the whole output if neither). */
  chainLength: number;
  /** k: the length of the true chain. */
  minimalLength: number;
  /** chainLength - k: > 0 overthinking, < 0 skipped steps. */
  excess: number;
  /** Written states equal to the start or to an earlier written state (loops; 0 for the true chain). */
  repeatedStates: number;
  /** Every token before ANS is a node and each follows the variant's rule from the previous state (from s). */
  chainValid: boolean;
  /** Tokens the output used: up to and including the first EOS, or all of it if unfinished. */
  length: number;
}

/**
 * The exact verifier. `generated` is what a model wrote after the prompt, already cut at the rollout's
 * length limit (it may lack EOS; anything after the first EOS is ignored). Any ids, even out of range, are
 * accepted and count as garbage.
 */
export function verify(cfg: PointerTaskConfig, example: PointerExample, generated: ArrayLike<number>): PointerResult {
  const P = cfg.nodes;
  const tok = pointerTokens(cfg);
  const isNode = (t: number) => Number.isInteger(t) && t >= 0 && t < P;
  const out = Array.from(generated);
  const eos = out.indexOf(tok.EOS);
  const finished = eos >= 0;
  const body = finished ? out.slice(0, eos) : out;
  const ansAt = body.indexOf(tok.ANS);
  const before = ansAt >= 0 ? body.slice(0, ansAt) : body;

  const inv = inverseOf(example.perm);
  const seen = new Set<number>([example.start]);
  let chainLength = 0;
  let repeatedStates = 0;
  let chainValid = true;
  let prev = example.start;
  for (const t of before) {
    if (!isNode(t)) {
      chainValid = false;
      continue;
    }
    chainLength++;
    if (seen.has(t)) repeatedStates++;
    seen.add(t);
    if (t !== stepOf(example.variant, example.perm, inv, prev)) chainValid = false;
    prev = t;
  }
  const answer = ansAt >= 0 && ansAt + 1 < body.length && isNode(body[ansAt + 1]) ? body[ansAt + 1] : null;
  const wellFormed = finished && chainLength === before.length && answer !== null && body.length === ansAt + 2;
  return {
    variant: example.variant,
    k: example.k,
    correct: wellFormed && answer === example.answer,
    finished,
    wellFormed,
    answer,
    chainLength,
    minimalLength: example.k,
    excess: chainLength - example.k,
    repeatedStates,
    chainValid,
    length: finished ? eos + 1 : out.length,
  };
}

/** The verifiable reward for RL: 1 if correct and finished, else 0. */
export function rewardOf(result: PointerResult): number {
  return result.correct && result.finished ? 1 : 0;
}

export interface PointerGroupMetrics {
  n: number;
  accuracy: number;
  /** Mean chainLength - k, over all results (unfinished ones count with what they wrote). */
  meanExcess: number;
  meanRepeatedStates: number;
  /** Share of results without EOS within the limit. */
  notFinished: number;
  /** Share whose written chain followed the rule throughout. */
  chainValid: number;
  wellFormed: number;
}

export interface PointerMetrics extends PointerGroupMetrics {
  byK: Record<number, PointerGroupMetrics>;
  byVariant: Partial<Record<PointerVariant, PointerGroupMetrics>>;
}

function groupMetrics(rs: readonly PointerResult[]): PointerGroupMetrics {
  const n = rs.length;
  const mean = (f: (r: PointerResult) => number) => (n === 0 ? Number.NaN : rs.reduce((s, r) => s + f(r), 0) / n);
  return {
    n,
    accuracy: mean((r) => rewardOf(r)),
    meanExcess: mean((r) => r.excess),
    meanRepeatedStates: mean((r) => r.repeatedStates),
    notFinished: mean((r) => (r.finished ? 0 : 1)),
    chainValid: mean((r) => (r.chainValid ? 1 : 0)),
    wellFormed: mean((r) => (r.wellFormed ? 1 : 0)),
  };
}

/** Accuracy (= mean reward) and overthinking measures, overall, per k (ascending) and per variant. NaN when empty. */
export function pointerMetrics(results: readonly PointerResult[]): PointerMetrics {
  const byK: Record<number, PointerGroupMetrics> = {};
  for (const k of [...new Set(results.map((r) => r.k))].sort((a, b) => a - b))
    byK[k] = groupMetrics(results.filter((r) => r.k === k));
  const byVariant: Partial<Record<PointerVariant, PointerGroupMetrics>> = {};
  for (const v of POINTER_VARIANTS) {
    const rs = results.filter((r) => r.variant === v);
    if (rs.length > 0) byVariant[v] = groupMetrics(rs);
  }
  return { ...groupMetrics(results), byK, byVariant };
}

// ---------------------------------------------------------------------------------------------------------
// Pools and held-out sets

/** Relative weights over variants and hop counts; a missing table means uniform over the config's. */
export interface PointerMix {
  variants?: Partial<Record<PointerVariant, number>>;
  /** Weight per hop count k (1..maxHops). */
  hops?: Record<number, number>;
}

export interface PoolItem extends PointerExample {
  /** `train-<seed>-<index>`, `eval-<seed>-<index>` or `val-<seed>-<index>`: stable for a given seed, config and mix. */
  id: string;
}

export interface Pool {
  seed: number;
  kind: 'train' | 'eval' | 'val';
  items: PoolItem[];
}

/** The canonical key of an example: its prompt tokens. */
export function promptKey(ex: Pick<PointerExample, 'prompt'>): string {
  return ex.prompt.join(',');
}

/** The problem behind a prompt, independent of the order the pairs are written in: variant, π, s, k. */
export function problemKey(ex: Pick<PointerExample, 'variant' | 'perm' | 'start' | 'k'>): string {
  return `${ex.variant}|${ex.perm.join(',')}|${ex.start}|${ex.k}`;
}

/** Ids of items of `a` whose key also occurs in `b` (by prompt tokens, or by problem). */
export function overlaps(a: Pool, b: Pool, by: 'prompt' | 'problem' = 'prompt'): string[] {
  const key = by === 'prompt' ? promptKey : problemKey;
  const keys = new Set(b.items.map(key));
  return a.items.filter((x) => keys.has(key(x))).map((x) => x.id);
}

/** Item ids grouped by hop count (ascending k), for difficulty bands. */
export function byHops(pool: Pool): Record<number, string[]> {
  const out: Record<number, string[]> = {};
  for (const item of [...pool.items].sort((a, b) => a.k - b.k)) {
    out[item.k] ??= [];
    out[item.k].push(item.id);
  }
  return out;
}

/** Item ids grouped by variant. */
export function byVariant(pool: Pool): Partial<Record<PointerVariant, string[]>> {
  const out: Partial<Record<PointerVariant, string[]>> = {};
  for (const item of pool.items) {
    out[item.variant] ??= [];
    out[item.variant]!.push(item.id);
  }
  return out;
}

function weightTable<K extends string | number>(
  field: string,
  allowed: readonly K[],
  given?: Partial<Record<K, number>>,
): number[] {
  if (given === undefined) return allowed.map(() => 1);
  for (const key of Object.keys(given)) {
    if (!allowed.some((a) => String(a) === key))
      throw new PointerTaskError(field, `'${key}' is not one of ${allowed.join(', ')}`);
  }
  const w = allowed.map((a) => given[a] ?? 0);
  for (let i = 0; i < w.length; i++)
    if (!Number.isFinite(w[i]) || w[i] < 0)
      throw new PointerTaskError(field, `weight of ${allowed[i]} is ${w[i]}, must be finite and >= 0`);
  if (w.reduce((s, x) => s + x, 0) <= 0) throw new PointerTaskError(field, 'weights sum to 0');
  return w;
}

function pick(rng: Rng, weights: readonly number[]): number {
  const total = weights.reduce((s, x) => s + x, 0);
  let u = rng.next() * total;
  for (let i = 0; i < weights.length; i++) {
    u -= weights[i];
    if (u < 0 && weights[i] > 0) return i;
  }
  return weights.findLastIndex((w) => w > 0);
}

/** Independent streams per purpose from one user seed (a splitmix-style hash of seed and stream). */
function streamSeed(seed: number, stream: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

const TRAIN_STREAM = 1;
const EVAL_STREAM = 2;
const VAL_STREAM = 3;

function drawPool(
  kind: 'train' | 'eval' | 'val',
  seed: number,
  cfg: PointerTaskConfig,
  mix: PointerMix,
  size: number,
  exclude?: Pool,
): Pool {
  validatePointerConfig(cfg);
  if (!Number.isInteger(seed)) throw new PointerTaskError('seed', `must be an integer, got ${seed}`);
  if (!Number.isInteger(size) || size < 0) throw new PointerTaskError('size', `must be an integer >= 0, got ${size}`);
  const hops = Array.from({ length: cfg.maxHops }, (_, i) => i + 1);
  const vw = weightTable('mix.variants', cfg.variants, mix.variants);
  const kw = weightTable('mix.hops', hops, mix.hops);
  const rng = new Rng(streamSeed(seed, kind === 'train' ? TRAIN_STREAM : kind === 'eval' ? EVAL_STREAM : VAL_STREAM));
  // Prompts are distinct within a pool, and an eval set shares no problem (hence no prompt) with `exclude`.
  const taken = new Set<string>(exclude ? exclude.items.map(problemKey) : []);
  const items: PoolItem[] = [];
  const maxRetries = 1000;
  while (items.length < size) {
    let tries = 0;
    for (;;) {
      const ex = makeExample(rng, cfg, cfg.variants[pick(rng, vw)], hops[pick(rng, kw)]);
      const key = problemKey(ex);
      if (!taken.has(key)) {
        taken.add(key);
        items.push({ ...ex, id: `${kind}-${seed}-${items.length}` });
        break;
      }
      if (++tries > maxRetries)
        throw new PointerTaskError(
          'size',
          `could draw only ${items.length} distinct problems of ${size} (${maxRetries} clashes in a row): the config and mix allow too few`,
        );
    }
  }
  return { seed, kind, items };
}

/**
 * A validation set (for choosing learning rates) from a third stream, ids `val-<seed>-<i>`; problems
 * in `exclude` (pass the test set) are redrawn, so validation and test share no problem.
 */
export function makeValidationSet(seed: number, cfg: PointerTaskConfig, mix: PointerMix, size: number, exclude?: Pool): Pool {
  return drawPool('val', seed, cfg, mix, size, exclude);
}

/**
 * A training pool of `size` distinct problems, ids `train-<seed>-<i>`; problems in `exclude` (the
 * held-out sets) are redrawn.
 */
export function makePool(seed: number, cfg: PointerTaskConfig, mix: PointerMix, size: number, exclude?: Pool): Pool {
  return drawPool('train', seed, cfg, mix, size, exclude);
}

/**
 * A held-out set from a random stream separate from makePool's (same seed, different draws), ids
 * `eval-<seed>-<i>`. Problems that occur in `exclude` (same variant, π, s, k, whatever the pair order) are
 * redrawn, so no eval prompt, nor a reshuffled copy of one, is in the training pool.
 */
export function makeEvalSet(seed: number, cfg: PointerTaskConfig, mix: PointerMix, size: number, exclude?: Pool): Pool {
  return drawPool('eval', seed, cfg, mix, size, exclude);
}
