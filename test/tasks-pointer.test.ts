/**
 * Pointer chasing task: token layout, determinism, chains checked against an independent reading of the
 * prompt, SFT encoding masks, the verifier on true and crafted outputs, metrics, and pool/eval disjointness.
 */
import { describe, expect, it } from 'vitest';
import { transformerPresets } from '../src/models/presets.ts';
import { Rng } from '../src/reference/random.ts';
import {
  byHops,
  byVariant,
  defaultPointerConfig,
  encodeSFT,
  generationLimit,
  makeEvalSet,
  makeExample,
  makePool,
  maxSequenceLength,
  overlaps,
  POINTER_VARIANTS,
  type PointerExample,
  type PointerResult,
  type PointerTaskConfig,
  PointerTaskError,
  type PointerVariant,
  parsePrompt,
  pointerMetrics,
  pointerTokens,
  promptLength,
  renderTokens,
  rewardOf,
  tokenName,
  validatePointerConfig,
  verify,
  vocabSize,
} from '../src/tasks/pointer.ts';

const cfg = defaultPointerConfig;
const tok = pointerTokens(cfg);

/** Read the prompt by hand (not via parsePrompt): pairs sit at 2 + 3j, 3 + 3j; start and k are the last two. */
function readPrompt(c: PointerTaskConfig, prompt: number[]) {
  const P = c.nodes;
  const map = new Map<number, number>();
  for (let j = 0; j < P; j++) map.set(prompt[2 + 3 * j], prompt[3 + 3 * j]);
  return { map, start: prompt[prompt.length - 2], k: prompt[prompt.length - 1], marker: prompt[1] };
}

/** The rule, computed independently from the pairs read off the prompt. */
function step(variant: PointerVariant, map: Map<number, number>, x: number): number {
  if (variant === 'forward') return map.get(x)!;
  if (variant === 'double') return map.get(map.get(x)!)!;
  for (const [a, b] of map) if (b === x) return a;
  throw new Error(`no preimage of ${x}`);
}

function catchTaskError(fn: () => unknown): PointerTaskError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PointerTaskError);
    return e as PointerTaskError;
  }
  throw new Error('expected a PointerTaskError');
}

function examples(seed: number, c = cfg): PointerExample[] {
  const rng = new Rng(seed);
  const out: PointerExample[] = [];
  for (const v of c.variants)
    for (let k = 1; k <= c.maxHops; k++) for (let r = 0; r < 12; r++) out.push(makeExample(rng, c, v, k));
  return out;
}

describe('pointer task: vocabulary and layout', () => {
  it('default config: 17 tokens, prompt 28, longest sequence 37, fits the tiny preset (vocab 32, context 64)', () => {
    expect(vocabSize(cfg)).toBe(17);
    expect(promptLength(cfg)).toBe(28);
    expect(maxSequenceLength(cfg)).toBe(37);
    expect(generationLimit(cfg)).toBe(36);
    const tiny = transformerPresets.tiny.config;
    validatePointerConfig({ ...cfg, context: tiny.context }, { modelVocab: tiny.vocab });
    const names = Array.from({ length: vocabSize(cfg) }, (_, i) => tokenName(cfg, i));
    expect(names.slice(8)).toEqual(['BOS', 'SEP', 'Q', 'ANS', 'EOS', 'PAD', 'FWD', 'INV', 'DBL']);
    expect(new Set(names).size).toBe(names.length);
    expect(tokenName(cfg, 17)).toBe('?17');
  });

  it('marker ids do not depend on which variants a config uses', () => {
    expect(pointerTokens({ nodes: 8 })).toEqual(tok);
    const only = makeExample(new Rng(1), { ...cfg, variants: ['double'] }, 'double', 2);
    expect(only.prompt[1]).toBe(tok.marker.double);
  });

  it('prompt and completion have the documented structure', () => {
    for (const ex of examples(5)) {
      const P = cfg.nodes;
      expect(ex.prompt.length).toBe(3 * P + 4);
      expect(ex.completion.length).toBe(ex.k + 3);
      expect(ex.prompt[0]).toBe(tok.BOS);
      expect(ex.prompt[1]).toBe(tok.marker[ex.variant]);
      for (let j = 1; j < P; j++) expect(ex.prompt[1 + 3 * j]).toBe(tok.SEP);
      expect(ex.prompt[3 * P + 1]).toBe(tok.Q);
      const { map, start, k } = readPrompt(cfg, ex.prompt);
      expect([...map.keys()].sort()).toEqual([...Array(P).keys()]);
      expect([...map.values()].sort()).toEqual([...Array(P).keys()]);
      expect(start).toBe(ex.start);
      expect(k).toBe(ex.k);
      expect(ex.completion.slice(ex.k)).toEqual([tok.ANS, ex.answer, tok.EOS]);
      expect(parsePrompt(cfg, ex.prompt)).toEqual({ variant: ex.variant, perm: ex.perm, start: ex.start, k: ex.k });
    }
  });

  it('renders a readable dump', () => {
    const ex = makeExample(new Rng(7), cfg, 'forward', 3);
    const text = renderTokens(cfg, [...ex.prompt, ...ex.completion]);
    expect(text.startsWith('BOS FWD ')).toBe(true);
    expect(text.endsWith(`ANS ${ex.answer} EOS`)).toBe(true);
    expect(text.split(' ').filter((w) => w === 'SEP').length).toBe(cfg.nodes - 1);
  });
});

describe('pointer task: table layout', () => {
  const table: PointerTaskConfig = { ...cfg, layout: 'table' };

  it('writes π(0) .. π(P-1) in node order: prompt P + 5 tokens, same vocabulary', () => {
    expect(promptLength(table)).toBe(cfg.nodes + 5);
    expect(maxSequenceLength(table)).toBe(cfg.nodes + 5 + cfg.maxHops + 3);
    expect(vocabSize(table)).toBe(vocabSize(cfg));
    const rng = new Rng(5);
    for (const variant of POINTER_VARIANTS)
      for (let k = 1; k <= cfg.maxHops; k++) {
        const ex = makeExample(rng, table, variant, k);
        expect(ex.prompt).toEqual([tok.BOS, tok.marker[variant], ...ex.perm, tok.Q, ex.start, k]);
        expect(parsePrompt(table, ex.prompt)).toEqual({ variant, perm: ex.perm, start: ex.start, k });
        // The chain read from the table by hand.
        let x = ex.start;
        for (const c of ex.chain) {
          const slot = (y: number) => ex.prompt[2 + y];
          x = variant === 'forward' ? slot(x) : variant === 'double' ? slot(slot(x)) : ex.perm.indexOf(x);
          expect(c).toBe(x);
        }
        expect(verify(table, ex, ex.completion).correct).toBe(true);
      }
  });

  it('draws the same problems as the pairs layout from the same stream, written differently', () => {
    const a = makePool(3, cfg, {}, 20);
    const b = makePool(3, table, {}, 20);
    // The pairs layout also draws the order of its pairs, so the streams part after the first problem.
    expect(b.items[0].perm).toEqual(a.items[0].perm);
    expect(b.items[0].prompt).not.toEqual(a.items[0].prompt);
    expect(new Set(b.items.map((x) => x.prompt.length))).toEqual(new Set([promptLength(table)]));
  });

  it('refuses an unknown layout and a malformed table, naming them', () => {
    expect(() => validatePointerConfig({ ...cfg, layout: 'grid' as never })).toThrow(
      /layout: unknown layout 'grid' \(known: pairs, table\)/,
    );
    const ex = makeExample(new Rng(1), table, 'forward', 2);
    const bad = [...ex.prompt];
    bad[3] = tok.SEP;
    expect(() => parsePrompt(table, bad)).toThrow(/the table holds a token that is not a node/);
    expect(() => parsePrompt(table, [...ex.prompt, 0])).toThrow(/has 14 tokens, expected 13/);
  });
});

describe('pointer task: generation', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    expect(examples(11)).toEqual(examples(11));
    expect(examples(11)).not.toEqual(examples(12));
  });

  it('chains follow each variant rule (checked from the prompt tokens) and never repeat a state', () => {
    for (const seed of [1, 2, 3]) {
      for (const ex of examples(seed)) {
        const { map, start, k } = readPrompt(cfg, ex.prompt);
        let x = start;
        const seen = new Set([start]);
        for (let i = 0; i < k; i++) {
          x = step(ex.variant, map, x);
          expect(ex.chain[i]).toBe(x);
          expect(seen.has(x)).toBe(false);
          seen.add(x);
        }
        expect(ex.chain.length).toBe(k);
        expect(ex.answer).toBe(x);
        expect(ex.completion.slice(0, k)).toEqual(ex.chain);
      }
    }
  });

  it('draws varied permutations: cycle lengths through s cover all allowed values', () => {
    const rng = new Rng(3);
    const lengths = new Set<number>();
    for (let i = 0; i < 400; i++) {
      const ex = makeExample(rng, cfg, 'forward', 1);
      let L = 1;
      for (let x = ex.perm[ex.start]; x !== ex.start; x = ex.perm[x]) L++;
      lengths.add(L);
    }
    expect([...lengths].sort()).toEqual([2, 3, 4, 5, 6, 7, 8]);
  });
});

describe('pointer task: encodeSFT', () => {
  it('masks exactly the completion targets; PAD after EOS', () => {
    const exs = examples(4);
    const T = 40;
    const { tokens, targets, mask } = encodeSFT(exs, T);
    expect(tokens.length).toBe(exs.length * T);
    exs.forEach((ex, b) => {
      const seq = [...ex.prompt, ...ex.completion];
      const row = (a: ArrayLike<number>) => Array.from(a).slice(b * T, (b + 1) * T);
      const tk = row(tokens);
      const tg = row(targets);
      const m = row(mask);
      for (let t = 0; t < T; t++) {
        expect(tk[t]).toBe(t < seq.length ? seq[t] : tok.PAD);
        expect(tg[t]).toBe(t + 1 < seq.length ? seq[t + 1] : tok.PAD);
      }
      const on = m.flatMap((v, t) => (v === 1 ? [t] : []));
      expect(m.every((v) => v === 0 || v === 1)).toBe(true);
      expect(on.map((t) => tg[t])).toEqual(ex.completion);
      expect(on[0]).toBe(ex.prompt.length - 1);
      expect(on.length).toBe(ex.completion.length);
    });
  });

  it('the longest example needs 36 positions (37 tokens); T = 35 fails naming T', () => {
    const ex = makeExample(new Rng(2), cfg, 'inverse', 6);
    const b = encodeSFT([ex], 36);
    expect(Array.from(b.targets).at(-1)).toBe(tok.EOS);
    expect(Array.from(b.mask).reduce((s, x) => s + x, 0)).toBe(9);
    const err = catchTaskError(() => encodeSFT([ex], 35));
    expect(err.field).toBe('T');
    expect(err.message).toMatch(/needs 36 positions \(37 tokens/);
    encodeSFT([ex], cfg.context);
  });
});

describe('pointer task: verify', () => {
  it('the true completion is correct, finished, minimal, loop-free and valid', () => {
    for (const ex of examples(8)) {
      const r = verify(cfg, ex, ex.completion);
      expect(r).toMatchObject({
        correct: true,
        finished: true,
        wellFormed: true,
        excess: 0,
        repeatedStates: 0,
        chainValid: true,
      });
      expect(r.chainLength).toBe(ex.k);
      expect(r.minimalLength).toBe(ex.k);
      expect(r.length).toBe(ex.k + 3);
      expect(rewardOf(r)).toBe(1);
      // anything after EOS is ignored
      expect(verify(cfg, ex, [...ex.completion, tok.BOS, 3, 99]).correct).toBe(true);
    }
  });

  const ex = makeExample(new Rng(21), cfg, 'forward', 3);
  const { map } = readPrompt(cfg, ex.prompt);
  /** Follow the rule from the start for n steps (may loop). */
  const walk = (n: number) => {
    const out: number[] = [];
    let x = ex.start;
    for (let i = 0; i < n; i++) {
      x = step(ex.variant, map, x);
      out.push(x);
    }
    return out;
  };
  /** Repeats counted independently: states equal to the start or an earlier state. */
  const repeats = (chain: number[]) => chain.filter((x, i) => x === ex.start || chain.slice(0, i).includes(x)).length;

  it('wrong answer: well formed, finished, not correct', () => {
    const wrong = (ex.answer + 1) % cfg.nodes;
    const r = verify(cfg, ex, [...ex.chain, tok.ANS, wrong, tok.EOS]);
    expect(r).toMatchObject({ correct: false, finished: true, wellFormed: true, answer: wrong, excess: 0, chainValid: true });
    expect(rewardOf(r)).toBe(0);
  });

  it('an extra step back to an earlier state: a loop, excess 1, invalid chain', () => {
    const chain = [...ex.chain, ex.chain[0]];
    const r = verify(cfg, ex, [...chain, tok.ANS, ex.answer, tok.EOS]);
    expect(r).toMatchObject({ correct: true, chainLength: 4, excess: 1, repeatedStates: 1, chainValid: false });
  });

  it('a rule-following chain that goes on past k and loops: correct answer, counted as overthinking', () => {
    const chain = walk(cfg.nodes + 2);
    const r = verify(cfg, ex, [...chain, tok.ANS, ex.answer, tok.EOS]);
    expect(r.correct).toBe(true);
    expect(r.chainValid).toBe(true);
    expect(r.excess).toBe(cfg.nodes + 2 - ex.k);
    expect(r.repeatedStates).toBe(repeats(chain));
    expect(r.repeatedStates).toBeGreaterThanOrEqual(2);
  });

  it('a runaway chain cut at the length limit: not finished, no reward', () => {
    const limit = generationLimit(cfg);
    const chain = walk(limit);
    const r = verify(cfg, ex, chain);
    expect(r).toMatchObject({
      finished: false,
      correct: false,
      wellFormed: false,
      answer: null,
      chainLength: limit,
      chainValid: true,
    });
    expect(r.excess).toBe(limit - ex.k);
    expect(r.repeatedStates).toBe(repeats(chain));
    expect(r.length).toBe(limit);
    expect(rewardOf(r)).toBe(0);
  });

  it('missing EOS: not finished, not correct', () => {
    const r = verify(cfg, ex, ex.completion.slice(0, -1));
    expect(r).toMatchObject({ finished: false, correct: false, wellFormed: false, answer: ex.answer, chainLength: ex.k });
    expect(rewardOf(r)).toBe(0);
  });

  it('garbage tokens: invalid, not well formed, never correct', () => {
    const junk = verify(cfg, ex, [tok.SEP, tok.BOS, 99, -1, 2.5, tok.ANS, ex.answer, tok.EOS]);
    expect(junk).toMatchObject({ correct: false, finished: true, wellFormed: false, chainLength: 0, chainValid: false });
    const tail = verify(cfg, ex, [...ex.chain, tok.ANS, ex.answer, tok.Q, tok.EOS]);
    expect(tail).toMatchObject({ correct: false, wellFormed: false, answer: ex.answer, chainValid: true });
    const noNode = verify(cfg, ex, [...ex.chain, tok.ANS, tok.PAD, tok.EOS]);
    expect(noNode).toMatchObject({ correct: false, answer: null });
    const empty = verify(cfg, ex, []);
    expect(empty).toMatchObject({ correct: false, finished: false, chainLength: 0, excess: -ex.k, length: 0 });
  });

  it('no chain at all: outcome-correct, excess -k', () => {
    const r = verify(cfg, ex, [tok.ANS, ex.answer, tok.EOS]);
    expect(r).toMatchObject({ correct: true, chainLength: 0, excess: -ex.k, chainValid: true, repeatedStates: 0 });
  });

  it('chainValid follows each variant rule: a chain written with the wrong rule is caught', () => {
    for (const ex of examples(4)) {
      const { map } = readPrompt(cfg, ex.prompt);
      for (const w of POINTER_VARIANTS) {
        const written: number[] = [];
        let x = ex.start;
        for (let i = 0; i < ex.k; i++) {
          x = step(w, map, x);
          written.push(x);
        }
        // valid exactly when every state agrees with the example's own rule from the previous written state
        const expected = written.every((y, i) => y === step(ex.variant, map, i === 0 ? ex.start : written[i - 1]));
        const r = verify(cfg, ex, [...written, tok.ANS, written.at(-1)!, tok.EOS]);
        expect(r.chainValid).toBe(expected);
        if (w === ex.variant) expect(r.correct).toBe(true);
      }
    }
  });
});

describe('pointer task: metrics', () => {
  const res = (p: Partial<PointerResult> & Pick<PointerResult, 'k' | 'variant'>): PointerResult => ({
    correct: true,
    finished: true,
    wellFormed: true,
    answer: 0,
    chainLength: p.k,
    minimalLength: p.k,
    excess: 0,
    repeatedStates: 0,
    chainValid: true,
    length: p.k + 3,
    ...p,
  });

  it('aggregates overall, per k and per variant', () => {
    const rs = [
      res({ k: 1, variant: 'forward' }),
      res({ k: 1, variant: 'inverse', correct: false }),
      res({ k: 3, variant: 'forward', excess: 4, repeatedStates: 2 }),
      res({ k: 3, variant: 'double', correct: false, finished: false, wellFormed: false, excess: 10, repeatedStates: 5 }),
    ];
    const m = pointerMetrics(rs);
    expect(m.n).toBe(4);
    expect(m.accuracy).toBe(0.5);
    expect(m.meanExcess).toBe(3.5);
    expect(m.meanRepeatedStates).toBe(1.75);
    expect(m.notFinished).toBe(0.25);
    expect(m.wellFormed).toBe(0.75);
    expect(Object.keys(m.byK)).toEqual(['1', '3']);
    expect(m.byK[1]).toMatchObject({ n: 2, accuracy: 0.5, meanExcess: 0 });
    expect(m.byK[3]).toMatchObject({ n: 2, accuracy: 0.5, meanExcess: 7, notFinished: 0.5 });
    expect(m.byVariant.forward).toMatchObject({ n: 2, accuracy: 1, meanExcess: 2 });
    expect(m.byVariant.inverse).toMatchObject({ n: 1, accuracy: 0 });
    expect(m.byVariant.double).toMatchObject({ n: 1, accuracy: 0, notFinished: 1 });
  });

  it('accuracy equals the mean reward of verified outputs; empty input gives NaN', () => {
    const exs = examples(9);
    const rs = exs.map((e, i) => verify(cfg, e, i % 3 === 0 ? e.completion.slice(0, -1) : e.completion));
    const m = pointerMetrics(rs);
    expect(m.accuracy).toBeCloseTo(rs.reduce((s, r) => s + rewardOf(r), 0) / rs.length, 12);
    expect(m.notFinished).toBeCloseTo(1 - m.accuracy, 12);
    expect(pointerMetrics([]).n).toBe(0);
    expect(pointerMetrics([]).accuracy).toBeNaN();
  });
});

describe('pointer task: pools and held-out sets', () => {
  it('pools are deterministic, with stable unique ids, distinct prompts and the mix respected', () => {
    const mix = { variants: { forward: 3, double: 1 }, hops: { 2: 1, 5: 1 } };
    const a = makePool(3, cfg, mix, 200);
    expect(makePool(3, cfg, mix, 200)).toEqual(a);
    expect(a.items[17].id).toBe('train-3-17');
    expect(new Set(a.items.map((x) => x.id)).size).toBe(200);
    expect(new Set(a.items.map((x) => x.prompt.join())).size).toBe(200);
    expect(new Set(a.items.map((x) => x.k))).toEqual(new Set([2, 5]));
    const vs = byVariant(a);
    expect(vs.inverse).toBeUndefined();
    expect(vs.forward!.length).toBeGreaterThan(vs.double!.length);
    const hops = byHops(a);
    expect(Object.keys(hops)).toEqual(['2', '5']);
    expect([...hops[2], ...hops[5]].sort()).toEqual(a.items.map((x) => x.id).sort());
    // a prefix of a larger pool: the same seed draws the same sequence
    expect(makePool(3, cfg, mix, 50).items).toEqual(a.items.slice(0, 50));
  });

  it('eval sets come from a separate stream and exclude the training pool, for several seeds', () => {
    for (const seed of [0, 1, 2, 3, 4]) {
      const pool = makePool(seed, cfg, {}, 300);
      const ev = makeEvalSet(seed, cfg, {}, 100, pool);
      expect(ev.items[0].id).toBe(`eval-${seed}-0`);
      expect(ev.items[0].prompt).not.toEqual(pool.items[0].prompt);
      expect(overlaps(ev, pool)).toEqual([]);
      expect(overlaps(ev, pool, 'problem')).toEqual([]);
      expect(overlaps(pool, pool).length).toBe(300);
    }
  });

  it('clashes in a small problem space are redrawn; an exhausted space fails naming size', () => {
    // nodes 4, k = 1, forward: 4 starts x 18 permutations without s fixed = 72 problems
    const small: PointerTaskConfig = { nodes: 4, maxHops: 1, variants: ['forward'], context: 32 };
    const pool = makePool(1, small, {}, 40);
    const without = makeEvalSet(1, small, {}, 20);
    expect(overlaps(without, pool, 'problem').length).toBeGreaterThan(0);
    const ev = makeEvalSet(1, small, {}, 20, pool);
    expect(overlaps(ev, pool, 'problem')).toEqual([]);
    expect(overlaps(ev, pool)).toEqual([]);
    expect(catchTaskError(() => makeEvalSet(1, small, {}, 40, pool)).field).toBe('size');
    // Pools exclude the held-out sets the same way (the suite passes its test and validation sets).
    const held = makeEvalSet(2, small, {}, 20);
    expect(overlaps(makePool(3, small, {}, 40), held, 'problem').length).toBeGreaterThan(0);
    expect(overlaps(makePool(3, small, {}, 40, held), held, 'problem')).toEqual([]);
  });
});

describe('pointer task: validation', () => {
  const bad = (over: Partial<PointerTaskConfig>, opts?: { modelVocab?: number }) =>
    catchTaskError(() => validatePointerConfig({ ...cfg, ...over }, opts));

  it('names the field at fault and the numbers', () => {
    expect(bad({ nodes: 1 }).field).toBe('nodes');
    expect(bad({ nodes: 8.5 }).field).toBe('nodes');
    expect(bad({ maxHops: 0 }).field).toBe('maxHops');
    const hopsErr = bad({ maxHops: 8 });
    expect(hopsErr.field).toBe('maxHops');
    expect(hopsErr.message).toMatch(/must be < nodes = 8/);
    const dbl = bad({ maxHops: 7 });
    expect(dbl.field).toBe('maxHops');
    expect(dbl.message).toMatch(/'double'.*at most 6 steps/);
    validatePointerConfig({ ...cfg, maxHops: 7, variants: ['forward', 'inverse'] });
    validatePointerConfig({ ...cfg, nodes: 9, maxHops: 8, context: 64 });
    expect(bad({ variants: [] }).field).toBe('variants');
    expect(bad({ variants: ['sideways' as PointerVariant] }).message).toMatch(/unknown variant 'sideways'/);
    expect(bad({ variants: ['forward', 'forward'] }).field).toBe('variants');
    const ctx = bad({ context: 36 });
    expect(ctx.field).toBe('context');
    expect(ctx.message).toMatch(/needs 37 tokens .* allows 36/);
    validatePointerConfig({ ...cfg, context: 37 });
    const voc = bad({}, { modelVocab: 16 });
    expect(voc.field).toBe('nodes');
    expect(voc.message).toMatch(/needs 17 token ids .* model vocab is 16/);
  });

  it('example and mix arguments are checked too', () => {
    const rng = new Rng(1);
    const two = { ...cfg, variants: ['forward', 'inverse'] as PointerVariant[] };
    expect(catchTaskError(() => makeExample(rng, two, 'double', 2)).field).toBe('variant');
    expect(catchTaskError(() => makeExample(rng, cfg, 'forward', 0)).field).toBe('k');
    expect(catchTaskError(() => makeExample(rng, cfg, 'forward', 7)).field).toBe('k');
    expect(catchTaskError(() => makePool(1, two, { variants: { double: 1 } }, 4)).field).toBe('mix.variants');
    expect(catchTaskError(() => makePool(1, cfg, { hops: { 9: 1 } }, 4)).field).toBe('mix.hops');
    expect(catchTaskError(() => makePool(1, cfg, { hops: { 2: -1 } }, 4)).field).toBe('mix.hops');
    expect(catchTaskError(() => makePool(1, cfg, { hops: { 2: 0 } }, 4)).field).toBe('mix.hops');
    expect(catchTaskError(() => makePool(1, cfg, {}, -1)).field).toBe('size');
    expect(catchTaskError(() => parsePrompt(cfg, [tok.BOS])).field).toBe('prompt');
    expect(POINTER_VARIANTS).toEqual(['forward', 'inverse', 'double']);
  });
});
