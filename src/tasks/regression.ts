/**
 * Tasks for in-context weight prediction (setting A of /work/shared/notes/science.md), pure TypeScript
 * on the CPU: sampling, data pools for curation, held-out evaluation sets, metrics and the
 * Bayes-optimal baseline.
 *
 * One example (a prompt and its target):
 *   domain  c ~ mixture (weights over cfg.domains)
 *   w       ~ N(0, U diag(eigenvalues of c) Uᵀ): w = U (sqrt(eigenvalues) ⊙ z), z ~ N(0, I_d), where U
 *             is cfg.basis (an orthogonal d x d matrix whose column j is direction j), or the
 *             standard basis when cfg.basis is absent (direction j is the j-th coordinate). A random
 *             basis keeps Adam's per-coordinate scaling from equalising rare and common directions.
 *   x_i     ~ N(0, I_d), i = 1..n
 *   y_i     = <w, x_i> + noise * N(0, 1)
 * Arrays are row-major f32, the layout LsaModel.setBatch reads: X [B*n*d], y [B*n], w [B*d], plus
 * domains [B] (an index into cfg.domains). y is computed in f64 from the stored (f32-rounded) w and X,
 * plus the noise, then rounded once: with noise 0, y[b, i] === fround(sum_j X[b, i, j] * w[b, j]).
 *
 * Random draws, per example and in this order: one uniform for the domain, d normals for w, n*d
 * normals for X, n normals for the noise (drawn even when noise is 0, so the same seed gives the same
 * X and w whatever the noise level).
 *
 * Pools and evaluation sets draw from Philox4x32-10 streams keyed by (tag, seed), tag 'pool' or
 * 'eval'. Different keys give unrelated streams; mulberry32 (Rng) would not do here: all its seeds
 * lie on one cycle of 2^32 states, so two seeds' streams are shifts of each other and a large pool
 * could share its random numbers with an evaluation set. Example i of a pool is the same for every
 * pool size with that seed (pools of one seed are nested), so ids are stable.
 */
import { UserError } from '../device/errors.ts';
import { mulhi32, PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS, PHILOX_W0, PHILOX_W1 } from '../reference/philox.ts';
import { Rng } from '../reference/random.ts';

/** A task distribution over w: variance of w along each standard basis direction. */
export interface RegressionDomain {
  name: string;
  /** Length d: the variance of w along each basis direction (>= 0; 0 = w is always 0 there). */
  eigenvalues: number[];
}

export interface RegressionTaskConfig {
  /** Dimension of x and w. */
  d: number;
  /** Pairs (x_i, y_i) per prompt. */
  n: number;
  /** Standard deviation of the label noise. */
  noise: number;
  domains: RegressionDomain[];
  /** [d*d] row-major orthogonal matrix, column j = direction j (absent: the standard basis). */
  basis?: Float64Array;
}

/** Non-negative weights over domain names, normalised internally; domains left out get weight 0. */
export type Mixture = Record<string, number>;

export interface RegressionBatch {
  /** [B*n*d] */
  X: Float32Array;
  /** [B*n] */
  y: Float32Array;
  /** [B*d] */
  w: Float32Array;
  /** [B]: index into cfg.domains. */
  domains: Uint32Array;
}

/** A fixed, seeded set of examples: a training pool ('pool') or a held-out evaluation set ('eval'). */
export interface RegressionPool extends RegressionBatch {
  kind: 'pool' | 'eval' | 'val';
  seed: number;
  /** Number of examples; their ids are 0..size-1. */
  size: number;
  cfg: RegressionTaskConfig;
  mixture: Mixture;
}

export interface RegressionMetrics {
  /** Number of examples. */
  count: number;
  /** Mean over examples of ||pred - w||^2. */
  mse: number;
  /** The same mean over each domain's examples; domains with no example are left out. */
  perDomain: Record<string, number>;
  /** Examples per domain (the same keys as perDomain). */
  perDomainCount: Record<string, number>;
  /** [d]: mean over examples of the squared error along direction j (column j of the basis); they sum to mse. */
  perDirection: number[];
  /** Share of examples with ||pred - w||^2 < tau (when a pass threshold tau was given). */
  passRate?: number;
  /** The same share within each domain (the same keys as perDomain). */
  perDomainPass?: Record<string, number>;
}

/** A configuration, mixture or argument that is not allowed; `field` names it. */
export class TaskConfigError extends UserError {
  override name = 'TaskConfigError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Validation

function checkInt(field: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new TaskConfigError(field, `${field} must be an integer >= ${min}, got ${v}`);
}

/** Throws a TaskConfigError naming the field and the allowed values if cfg is not a valid task. */
export function validateTaskConfig(cfg: RegressionTaskConfig): void {
  checkInt('d', cfg.d, 1);
  validateBasis(cfg);
  checkInt('n', cfg.n, 1);
  if (typeof cfg.noise !== 'number' || !Number.isFinite(cfg.noise) || cfg.noise < 0)
    throw new TaskConfigError('noise', `noise must be a finite number >= 0, got ${cfg.noise}`);
  if (!Array.isArray(cfg.domains) || cfg.domains.length === 0)
    throw new TaskConfigError('domains', 'domains must hold at least one domain, got none');
  const seen = new Map<string, number>();
  cfg.domains.forEach((dom, k) => {
    const field = `domains[${k}]`;
    if (typeof dom.name !== 'string' || dom.name === '')
      throw new TaskConfigError(`${field}.name`, `${field}.name must be a non-empty string, got ${JSON.stringify(dom.name)}`);
    const prev = seen.get(dom.name);
    if (prev !== undefined)
      throw new TaskConfigError(
        `${field}.name`,
        `${field}.name '${dom.name}' is not unique (domains[${prev}] has it too); domain names must be unique`,
      );
    seen.set(dom.name, k);
    if (!Array.isArray(dom.eigenvalues) || dom.eigenvalues.length !== cfg.d)
      throw new TaskConfigError(
        `${field}.eigenvalues`,
        `${field}.eigenvalues must have length d = ${cfg.d}, got ${Array.isArray(dom.eigenvalues) ? dom.eigenvalues.length : dom.eigenvalues}`,
      );
    dom.eigenvalues.forEach((v, j) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
        throw new TaskConfigError(
          `${field}.eigenvalues[${j}]`,
          `${field}.eigenvalues[${j}] must be a finite number >= 0, got ${v}`,
        );
    });
  });
}

function validateBasis(cfg: RegressionTaskConfig): void {
  const U = cfg.basis;
  if (U === undefined) return;
  const { d } = cfg;
  if (U.length !== d * d) throw new TaskConfigError('basis', `basis must hold d * d = ${d * d} numbers, got ${U.length}`);
  for (let a = 0; a < d; a++)
    for (let b = a; b < d; b++) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += U[i * d + a] * U[i * d + b];
      if (!(Math.abs(dot - (a === b ? 1 : 0)) < 1e-9))
        throw new TaskConfigError('basis', `basis must be orthogonal: columns ${a} and ${b} have dot product ${dot}`);
    }
}

/**
 * A random orthogonal d x d basis, fixed by the seed: Gram-Schmidt (twice, for accuracy) on the
 * columns of a matrix of normals from the ('basis', seed) stream. Row-major, column j = direction j.
 */
export function randomBasis(d: number, seed: number): Float64Array {
  checkInt('d', d, 1);
  const rng = new StreamRng('basis', seed);
  const U = new Float64Array(d * d);
  for (let i = 0; i < d * d; i++) U[i] = rng.normal();
  for (let j = 0; j < d; j++) {
    for (let pass = 0; pass < 2; pass++)
      for (let k = 0; k < j; k++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += U[i * d + j] * U[i * d + k];
        for (let i = 0; i < d; i++) U[i * d + j] -= dot * U[i * d + k];
      }
    let norm = 0;
    for (let i = 0; i < d; i++) norm += U[i * d + j] ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < d; i++) U[i * d + j] /= norm;
  }
  return U;
}

/**
 * The mixture's probabilities in the order of cfg.domains (they sum to 1). Throws a TaskConfigError
 * for an unknown domain, a negative or non-finite weight, or weights that sum to 0.
 */
export function mixtureProbabilities(cfg: RegressionTaskConfig, mixture: Readonly<Mixture>): Float64Array {
  const index = new Map(cfg.domains.map((dom, k) => [dom.name, k]));
  const p = new Float64Array(cfg.domains.length);
  for (const [name, weight] of Object.entries(mixture)) {
    const k = index.get(name);
    if (k === undefined)
      throw new TaskConfigError(
        'mixture',
        `mixture: unknown domain '${name}' (domains: ${cfg.domains.map((dom) => `'${dom.name}'`).join(', ')})`,
      );
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0)
      throw new TaskConfigError(`mixture['${name}']`, `mixture['${name}'] must be a finite number >= 0, got ${weight}`);
    p[k] = weight;
  }
  const total = p.reduce((a, b) => a + b, 0);
  if (!(total > 0))
    throw new TaskConfigError('mixture', 'mixture: the weights sum to 0; at least one domain needs a positive weight');
  for (let k = 0; k < p.length; k++) p[k] /= total;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Presets

/** One domain 'all': every direction has variance 1. */
export function balancedDomains(d: number): RegressionDomain[] {
  checkInt('d', d, 1);
  return [{ name: 'all', eigenvalues: new Array<number>(d).fill(1) }];
}

/**
 * Two domains: 'head' has variance 1 on the first `head` directions and `rest` (default 0) on the
 * others; 'tail' the reverse. A mixture over them sets how often each direction is seen.
 */
export function headTailDomains(d: number, head = 4, rest = 0): RegressionDomain[] {
  checkInt('d', d, 2);
  if (!Number.isInteger(head) || head < 1 || head >= d)
    throw new TaskConfigError('head', `head must be an integer in [1, d - 1] = [1, ${d - 1}], got ${head}`);
  if (!Number.isFinite(rest) || rest < 0) throw new TaskConfigError('rest', `rest must be a finite number >= 0, got ${rest}`);
  const ev = (inHead: boolean) => Array.from({ length: d }, (_, j) => (j < head === inHead ? 1 : rest));
  return [
    { name: 'head', eigenvalues: ev(true) },
    { name: 'tail', eigenvalues: ev(false) },
  ];
}

/** Head and tail tasks equally often: every direction is seen in half the tasks. */
export const balancedMixture: Readonly<Mixture> = Object.freeze({ head: 0.5, tail: 0.5 });
/** Tail tasks are rare: the tail directions are seen in 5% of the tasks. */
export const imbalancedMixture: Readonly<Mixture> = Object.freeze({ head: 0.95, tail: 0.05 });

// ---------------------------------------------------------------------------------------------
// Sampling

/** Draw B examples from the task; deterministic for the rng's seed (see the draw order above). */
export function sampleBatch(rng: Rng, cfg: RegressionTaskConfig, mixture: Readonly<Mixture>, B: number): RegressionBatch {
  validateTaskConfig(cfg);
  checkInt('B', B, 0);
  const p = mixtureProbabilities(cfg, mixture);
  const { d, n, noise } = cfg;
  const cum = new Float64Array(p.length);
  let lastPositive = 0;
  for (let k = 0, s = 0; k < p.length; k++) {
    s += p[k];
    cum[k] = s;
    if (p[k] > 0) lastPositive = k;
  }
  const scales = cfg.domains.map((dom) => dom.eigenvalues.map(Math.sqrt));
  const U = cfg.basis;
  const z = new Float64Array(d);
  const X = new Float32Array(B * n * d);
  const y = new Float32Array(B * n);
  const w = new Float32Array(B * d);
  const domains = new Uint32Array(B);
  for (let b = 0; b < B; b++) {
    const u = rng.next();
    let c = lastPositive;
    for (let k = 0; k < p.length; k++)
      if (p[k] > 0 && u < cum[k]) {
        c = k;
        break;
      }
    domains[b] = c;
    const sc = scales[c];
    for (let j = 0; j < d; j++) z[j] = sc[j] * rng.normal();
    for (let i = 0; i < d; i++) {
      let v = z[i];
      if (U) {
        v = 0;
        for (let j = 0; j < d; j++) v += U[i * d + j] * z[j];
      }
      // No -0 (keeps exact comparisons and hashing in overlaps() simple).
      w[b * d + i] = v === 0 ? 0 : v;
    }
    for (let i = 0; i < n * d; i++) X[b * n * d + i] = rng.normal();
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += X[(b * n + i) * d + j] * w[b * d + j];
      y[b * n + i] = s + noise * rng.normal();
    }
  }
  return { X, y, w, domains };
}

/** FNV-1a of a string's UTF-16 code units. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * An Rng whose uniforms come from a Philox4x32-10 stream with key (seed mod 2^32, FNV-1a(tag)):
 * next() = word / 2^32 for the 4 output words of counters (0, 0, 0, 0), (1, 0, 0, 0), ... in turn. Distinct (tag, seed)
 * pairs give distinct keys, hence unrelated streams.
 */
export class StreamRng extends Rng {
  private readonly k0: number;
  private readonly k1: number;
  private counter = 0;
  private readonly words = new Uint32Array(4);
  private pos = 4;

  constructor(tag: string, seed: number) {
    super(0);
    if (!Number.isInteger(seed)) throw new TaskConfigError('seed', `seed must be an integer, got ${seed}`);
    this.k0 = seed >>> 0;
    this.k1 = fnv1a(tag);
  }

  override next(): number {
    if (this.pos === 4) {
      this.refill();
      this.pos = 0;
    }
    return this.words[this.pos++] / 4294967296;
  }

  /** Where the stream stands (for checkpoints): the next counter and the position in its block. */
  getState(): { counter: number; pos: number } {
    return { counter: this.counter, pos: this.pos };
  }

  /** Continue from a state returned by getState (same tag and seed). */
  setState(state: { counter: number; pos: number }): void {
    if (state.pos < 4) {
      this.counter = state.counter - 1;
      this.refill(); // the current block again: counter is back at state.counter
    } else {
      this.counter = state.counter;
    }
    this.pos = state.pos;
  }

  /** philox4x32_10([counter lo, counter hi, 0, 0], [k0, k1]), inlined (no allocation; same bits). */
  private refill(): void {
    const c = this.counter++;
    let c0 = c >>> 0;
    let c1 = Math.floor(c / 2 ** 32) >>> 0;
    let c2 = 0;
    let c3 = 0;
    let k0 = this.k0;
    let k1 = this.k1;
    for (let r = 0; r < PHILOX_ROUNDS; r++) {
      if (r > 0) {
        k0 = (k0 + PHILOX_W0) >>> 0;
        k1 = (k1 + PHILOX_W1) >>> 0;
      }
      const hi0 = mulhi32(PHILOX_M0, c0);
      const lo0 = Math.imul(PHILOX_M0, c0) >>> 0;
      const hi1 = mulhi32(PHILOX_M1, c2);
      const lo1 = Math.imul(PHILOX_M1, c2) >>> 0;
      c0 = (hi1 ^ c1 ^ k0) >>> 0;
      c1 = lo1;
      c2 = (hi0 ^ c3 ^ k1) >>> 0;
      c3 = lo0;
    }
    this.words[0] = c0;
    this.words[1] = c1;
    this.words[2] = c2;
    this.words[3] = c3;
  }
}

/**
 * Sets made recently, by everything that decides their contents (kind, seed, size, config, mixture):
 * a set is a pure function of these, and an experiment's runs ask for the same pools and held-out
 * sets again and again (the paper's setting A spent about 40% of its time drawing them anew). Least
 * recently used first; bounded by SET_CACHE_BYTES. Callers only read a set (poolBatch copies).
 */
const setCache = new Map<string, RegressionPool>();
const SET_CACHE_BYTES = 96 * 2 ** 20;
let setCacheBytes = 0;

function setBytes(set: RegressionPool): number {
  return set.X.byteLength + set.y.byteLength + set.w.byteLength + set.domains.byteLength;
}

function setKey(kind: string, seed: number, cfg: RegressionTaskConfig, mixture: Readonly<Mixture>, size: number): string {
  const domains = cfg.domains.map((dom) => `${dom.name}:${dom.eigenvalues.join(',')}`).join(';');
  const mix = Object.entries(mixture)
    .map(([k, v]) => `${k}:${v}`)
    .join(',');
  const basis = cfg.basis ? Array.from(cfg.basis).join(',') : '';
  return `${kind}|${seed}|${size}|${cfg.d}|${cfg.n}|${cfg.noise}|${domains}|${mix}|${basis}`;
}

function makeSet(
  kind: 'pool' | 'eval' | 'val',
  seed: number,
  cfg: RegressionTaskConfig,
  mixture: Readonly<Mixture>,
  size: number,
): RegressionPool {
  checkInt('size', size, 0);
  validateTaskConfig(cfg);
  const key = setKey(kind, seed, cfg, mixture, size);
  const hit = setCache.get(key);
  if (hit) {
    setCache.delete(key);
    setCache.set(key, hit);
    return hit;
  }
  const set: RegressionPool = {
    ...sampleBatch(new StreamRng(kind, seed), cfg, mixture, size),
    kind,
    seed,
    size,
    cfg: { ...cfg, domains: cfg.domains.map((dom) => ({ name: dom.name, eigenvalues: [...dom.eigenvalues] })) },
    mixture: { ...mixture },
  };
  const bytes = setBytes(set);
  if (bytes <= SET_CACHE_BYTES) {
    setCache.set(key, set);
    setCacheBytes += bytes;
    for (const [k, old] of setCache) {
      if (setCacheBytes <= SET_CACHE_BYTES) break;
      setCache.delete(k);
      setCacheBytes -= setBytes(old);
    }
  }
  return set;
}

/** A training pool of `size` examples, ids 0..size-1 (example i does not depend on size). */
export function makePool(seed: number, cfg: RegressionTaskConfig, mixture: Readonly<Mixture>, size: number): RegressionPool {
  return makeSet('pool', seed, cfg, mixture, size);
}

/** A held-out evaluation set: its own random stream, unrelated to every pool's (check with overlaps()). */
export function makeEvalSet(seed: number, cfg: RegressionTaskConfig, mixture: Readonly<Mixture>, size: number): RegressionPool {
  return makeSet('eval', seed, cfg, mixture, size);
}

/** A validation set (for choosing learning rates): its own stream, unrelated to the pools' and the eval set's. */
export function makeValidationSet(
  seed: number,
  cfg: RegressionTaskConfig,
  mixture: Readonly<Mixture>,
  size: number,
): RegressionPool {
  return makeSet('val', seed, cfg, mixture, size);
}

/** The examples `ids` of a pool, in that order (repeats allowed), as a batch to train or evaluate on. */
export function poolBatch(pool: RegressionPool, ids: ArrayLike<number>): RegressionBatch {
  const { d, n } = pool.cfg;
  const B = ids.length;
  const out: RegressionBatch = {
    X: new Float32Array(B * n * d),
    y: new Float32Array(B * n),
    w: new Float32Array(B * d),
    domains: new Uint32Array(B),
  };
  for (let b = 0; b < B; b++) {
    const id = ids[b];
    if (!Number.isInteger(id) || id < 0 || id >= pool.size)
      throw new TaskConfigError('ids', `ids[${b}] must be an integer in [0, ${pool.size - 1}] (the pool's ids), got ${id}`);
    out.X.set(pool.X.subarray(id * n * d, (id + 1) * n * d), b * n * d);
    out.y.set(pool.y.subarray(id * n, (id + 1) * n), b * n);
    out.w.set(pool.w.subarray(id * d, (id + 1) * d), b * d);
    out.domains[b] = pool.domains[id];
  }
  return out;
}

/** Pairs [index in a, index in b] of examples that appear in both (w and X exactly equal). */
export function findOverlaps(a: RegressionBatch, b: RegressionBatch): Array<[number, number]> {
  const Ba = a.domains.length;
  const Bb = b.domains.length;
  if (Ba === 0 || Bb === 0) return [];
  const d = a.w.length / Ba;
  const nd = a.X.length / Ba;
  if (b.w.length / Bb !== d || b.X.length / Bb !== nd) return [];
  const bits = new Float32Array(1);
  const word = new Uint32Array(bits.buffer);
  const hashW = (w: Float32Array, e: number): number => {
    let h = 0x811c9dc5;
    for (let j = 0; j < d; j++) {
      const v = w[e * d + j];
      bits[0] = v === 0 ? 0 : v; // 0 and -0 compare equal: hash them alike.
      h = Math.imul(h ^ word[0], 0x01000193) >>> 0;
    }
    return h;
  };
  const byHash = new Map<number, number[]>();
  for (let e = 0; e < Ba; e++) {
    const h = hashW(a.w, e);
    const list = byHash.get(h);
    if (list) list.push(e);
    else byHash.set(h, [e]);
  }
  const same = (x: Float32Array, i: number, y: Float32Array, j: number, len: number) => {
    for (let t = 0; t < len; t++) if (x[i * len + t] !== y[j * len + t]) return false;
    return true;
  };
  const pairs: Array<[number, number]> = [];
  for (let e = 0; e < Bb; e++)
    for (const ea of byHash.get(hashW(b.w, e)) ?? [])
      if (same(a.w, ea, b.w, e, d) && same(a.X, ea, b.X, e, nd)) pairs.push([ea, e]);
  return pairs;
}

/** Whether any example appears in both a and b (w and X exactly equal). */
export function overlaps(a: RegressionBatch, b: RegressionBatch): boolean {
  return findOverlaps(a, b).length > 0;
}

// ---------------------------------------------------------------------------------------------
// Metrics

function checkBatch(batch: RegressionBatch, cfg: RegressionTaskConfig): number {
  const B = batch.domains.length;
  const { d, n } = cfg;
  for (const [field, len, want] of [
    ['batch.X', batch.X.length, B * n * d],
    ['batch.y', batch.y.length, B * n],
    ['batch.w', batch.w.length, B * d],
  ] as const)
    if (len !== want)
      throw new TaskConfigError(field, `${field} must have length ${want} (B = ${B}, n = ${n}, d = ${d}), got ${len}`);
  for (let b = 0; b < B; b++)
    if (batch.domains[b] >= cfg.domains.length)
      throw new TaskConfigError(
        'batch.domains',
        `batch.domains[${b}] must be an index in [0, ${cfg.domains.length - 1}], got ${batch.domains[b]}`,
      );
  return B;
}

/** Per-example ||pred - w||^2 (pred [B*d]): the difficulty score used for curation. */
export function exampleErrors(pred: ArrayLike<number>, batch: RegressionBatch): Float64Array {
  const B = batch.domains.length;
  if (pred.length !== batch.w.length)
    throw new TaskConfigError('pred', `pred must have the length of batch.w (${batch.w.length}), got ${pred.length}`);
  const out = new Float64Array(B);
  if (B === 0) return out;
  const d = batch.w.length / B;
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const e = pred[b * d + j] - batch.w[b * d + j];
      s += e * e;
    }
    out[b] = s;
  }
  return out;
}

/**
 * Mean squared error of pred [B*d] against the batch's w, overall, per domain and per direction of
 * the task's basis; with `tau`, also the share of examples whose error is below it (they pass).
 */
export function regressionMetrics(
  pred: ArrayLike<number>,
  batch: RegressionBatch,
  cfg: RegressionTaskConfig,
  tau?: number,
): RegressionMetrics {
  const B = checkBatch(batch, cfg);
  const { d } = cfg;
  if (B === 0) throw new TaskConfigError('batch', 'regressionMetrics: the batch is empty (B = 0); there is no mean to take');
  if (pred.length !== B * d) throw new TaskConfigError('pred', `pred must have length B * d = ${B * d}, got ${pred.length}`);
  const errors = exampleErrors(pred, batch);
  const perDirection = new Array<number>(d).fill(0);
  const U = cfg.basis;
  for (let b = 0; b < B; b++)
    for (let j = 0; j < d; j++) {
      let e = 0;
      if (U) for (let i = 0; i < d; i++) e += U[i * d + j] * (pred[b * d + i] - batch.w[b * d + i]);
      else e = pred[b * d + j] - batch.w[b * d + j];
      perDirection[j] += e * e;
    }
  const sums = new Float64Array(cfg.domains.length);
  const counts = new Uint32Array(cfg.domains.length);
  let total = 0;
  for (let b = 0; b < B; b++) {
    total += errors[b];
    sums[batch.domains[b]] += errors[b];
    counts[batch.domains[b]]++;
  }
  const perDomain: Record<string, number> = {};
  const perDomainCount: Record<string, number> = {};
  cfg.domains.forEach((dom, k) => {
    if (counts[k] === 0) return;
    perDomain[dom.name] = sums[k] / counts[k];
    perDomainCount[dom.name] = counts[k];
  });
  const out: RegressionMetrics = {
    count: B,
    mse: total / B,
    perDomain,
    perDomainCount,
    perDirection: perDirection.map((s) => s / B),
  };
  if (tau !== undefined) {
    const passes = new Uint32Array(cfg.domains.length);
    for (let b = 0; b < B; b++) if (errors[b] < tau) passes[batch.domains[b]]++;
    out.passRate = passes.reduce((a, v) => a + v, 0) / B;
    out.perDomainPass = Object.fromEntries(
      Object.keys(perDomain).map((name) => {
        const k = cfg.domains.findIndex((dom) => dom.name === name);
        return [name, passes[k] / counts[k]];
      }),
    );
  }
  return out;
}

/**
 * Per example, the share of `samples` answers pred + sigma * xi (xi ~ N(0, I_d), from rng) whose
 * error ||answer - w||^2 is below tau: the pass rate of the Gaussian policy around pred, the
 * difficulty of an RL prompt ('pass-rate' curation). Draw order: example by example, sample by
 * sample, d normals each.
 */
export function passRates(
  pred: ArrayLike<number>,
  batch: RegressionBatch,
  sigma: number,
  tau: number,
  samples: number,
  rng: Rng,
): Float64Array {
  const B = batch.domains.length;
  if (pred.length !== batch.w.length)
    throw new TaskConfigError('pred', `pred must have the length of batch.w (${batch.w.length}), got ${pred.length}`);
  checkInt('samples', samples, 1);
  const out = new Float64Array(B);
  if (B === 0) return out;
  const d = batch.w.length / B;
  for (let b = 0; b < B; b++) {
    let pass = 0;
    for (let g = 0; g < samples; g++) {
      let err = 0;
      for (let j = 0; j < d; j++) {
        const e = pred[b * d + j] + sigma * rng.normal() - batch.w[b * d + j];
        err += e * e;
      }
      if (err < tau) pass++;
    }
    out[b] = pass / samples;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Baselines

/** The moment estimator (1/n) Xᵀy per example ([B*d], f64): the LSA model with Gamma = I. */
export function momentPrediction(batch: RegressionBatch, cfg: RegressionTaskConfig): Float64Array {
  const B = checkBatch(batch, cfg);
  const { d, n } = cfg;
  const out = new Float64Array(B * d);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < n; i++)
      for (let j = 0; j < d; j++) out[b * d + j] += (batch.y[b * n + i] * batch.X[(b * n + i) * d + j]) / n;
  return out;
}

/**
 * Cholesky factorisation in place of a symmetric m x m matrix (row-major, lower triangle read):
 * A = L Lᵀ with L left in the lower triangle. Returns false if a pivot is <= relTol * max diagonal
 * (not positive definite to working precision).
 */
export function choleskyFactor(A: Float64Array, m: number, relTol = 1e-12): boolean {
  let maxDiag = 0;
  for (let i = 0; i < m; i++) maxDiag = Math.max(maxDiag, A[i * m + i]);
  const floor = relTol * maxDiag;
  for (let j = 0; j < m; j++) {
    let s = A[j * m + j];
    for (let k = 0; k < j; k++) s -= A[j * m + k] * A[j * m + k];
    if (!(s > floor)) return false;
    const ljj = Math.sqrt(s);
    A[j * m + j] = ljj;
    for (let i = j + 1; i < m; i++) {
      let t = A[i * m + j];
      for (let k = 0; k < j; k++) t -= A[i * m + k] * A[j * m + k];
      A[i * m + j] = t / ljj;
    }
  }
  return true;
}

/** Solve L Lᵀ x = b in place (L from choleskyFactor). */
export function choleskySolve(L: Float64Array, b: Float64Array, m: number): Float64Array {
  for (let i = 0; i < m; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * m + k] * b[k];
    b[i] = s / L[i * m + i];
  }
  for (let i = m - 1; i >= 0; i--) {
    let s = b[i];
    for (let k = i + 1; k < m; k++) s -= L[k * m + i] * b[k];
    b[i] = s / L[i * m + i];
  }
  return b;
}

/** First jitter, relative to the mean diagonal; it grows x10 per failed try, at most JITTER_TRIES times. */
const JITTER_REL = 1e-10;
const JITTER_TRIES = 9;

/**
 * Solve the symmetric positive semi-definite system A x = b (A is not modified). If A is singular to
 * working precision, eps * I is added, eps = 1e-10 * mean diagonal, x10 until it factors.
 */
function solveSpd(A: Float64Array, b: Float64Array, m: number, work: Float64Array): Float64Array {
  let mean = 0;
  for (let i = 0; i < m; i++) mean += A[i * m + i] / m;
  const scale = mean > 0 ? mean : 1;
  for (let t = 0; t <= JITTER_TRIES; t++) {
    work.set(A.subarray(0, m * m));
    if (t > 0) {
      const eps = JITTER_REL * 10 ** (t - 1) * scale;
      for (let i = 0; i < m; i++) work[i * m + i] += eps;
    }
    if (choleskyFactor(work, m)) return choleskySolve(work, Float64Array.from(b.subarray(0, m)), m);
  }
  throw new Error(
    `solveSpd: the ${m} x ${m} system did not factor even with jitter ${JITTER_REL * 10 ** (JITTER_TRIES - 1)} x mean diagonal`,
  );
}

export interface RidgeOptions {
  /**
   * 'primal': solve the k x k system over w's support (k = directions with a positive eigenvalue);
   * 'dual': the n x n system over the prompt; 'auto' (default): the smaller one (primal when k <= n).
   * Both give the same estimate (push-through identity).
   */
  form?: 'auto' | 'primal' | 'dual';
}

/**
 * The Bayes-optimal estimate of w (its posterior mean) for each example, given the prompt and the
 * example's domain: w ~ N(0, Σ), Σ = diag(eigenvalues), y = X w + noise ξ. Returned as [B*d], f64.
 * Zero eigenvalues are handled by working on the support S = {j : λ_j > 0} (ŵ_j = 0 off it):
 *   primal  ŵ_S = (X_Sᵀ X_S + noise² Σ_S⁻¹)⁻¹ X_Sᵀ y
 *   dual    ŵ_S = Σ_S X_Sᵀ (X_S Σ_S X_Sᵀ + noise² I_n)⁻¹ y
 * With noise > 0 both systems are positive definite. With noise = 0 the choice of the smaller system
 * keeps them non-singular for X of full rank (primal: least squares, n >= k; dual: the
 * minimum-Σ⁻¹-norm interpolant, n < k); if a system is still singular (rank-deficient X), a tiny
 * jitter eps * I (eps from 1e-10 x mean diagonal, growing x10 until Cholesky succeeds) is added:
 * the result is then the ridge limit, which interpolates the prompt to about eps.
 */
export function optimalRidgePrediction(batch: RegressionBatch, cfg: RegressionTaskConfig, opts: RidgeOptions = {}): Float64Array {
  validateTaskConfig(cfg);
  const B = checkBatch(batch, cfg);
  const { d, n, noise } = cfg;
  const form = opts.form ?? 'auto';
  const noise2 = noise * noise;
  const supports = cfg.domains.map((dom) => dom.eigenvalues.flatMap((v, j) => (v > 0 ? [j] : [])));
  const out = new Float64Array(B * d);
  const m = Math.max(n, d);
  const A = new Float64Array(m * m);
  const work = new Float64Array(m * m);
  const rhs = new Float64Array(m);
  const XS = new Float64Array(n * d);
  for (let b = 0; b < B; b++) {
    const dom = batch.domains[b];
    const S = supports[dom];
    const lam = cfg.domains[dom].eigenvalues;
    const k = S.length;
    if (k === 0) continue;
    // X_S [n, k] in f64.
    for (let i = 0; i < n; i++) for (let s = 0; s < k; s++) XS[i * k + s] = batch.X[(b * n + i) * d + S[s]];
    const yb = (i: number) => batch.y[b * n + i];
    const primal = form === 'primal' || (form === 'auto' && k <= n);
    if (primal) {
      for (let s = 0; s < k; s++) {
        for (let t = 0; t <= s; t++) {
          let acc = 0;
          for (let i = 0; i < n; i++) acc += XS[i * k + s] * XS[i * k + t];
          A[s * k + t] = acc;
          A[t * k + s] = acc;
        }
        A[s * k + s] += noise2 / lam[S[s]];
        let r = 0;
        for (let i = 0; i < n; i++) r += XS[i * k + s] * yb(i);
        rhs[s] = r;
      }
      const sol = solveSpd(A, rhs, k, work);
      for (let s = 0; s < k; s++) out[b * d + S[s]] = sol[s];
    } else {
      for (let i = 0; i < n; i++) {
        for (let i2 = 0; i2 <= i; i2++) {
          let acc = 0;
          for (let s = 0; s < k; s++) acc += XS[i * k + s] * lam[S[s]] * XS[i2 * k + s];
          A[i * n + i2] = acc;
          A[i2 * n + i] = acc;
        }
        A[i * n + i] += noise2;
        rhs[i] = yb(i);
      }
      const alpha = solveSpd(A, rhs, n, work);
      for (let s = 0; s < k; s++) {
        let acc = 0;
        for (let i = 0; i < n; i++) acc += XS[i * k + s] * alpha[i];
        out[b * d + S[s]] = lam[S[s]] * acc;
      }
    }
  }
  return out;
}
