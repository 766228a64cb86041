/** Curation rules shared by the task suites. */
import { StreamRng } from '../tasks/regression.ts';
import type { Phase } from './plan.ts';
import type { ScoreMemo, Selection } from './suite.ts';

/**
 * Curation: pick m ids of a pool by their difficulty scores (higher = harder): the hardest, the
 * easiest, a random m, or a random m among those whose score lies in the [lo, hi) quantile band.
 */
export function selectIds(
  scores: ArrayLike<number>,
  select: { rule: NonNullable<Phase['select']>['rule']; m: number; band?: [number, number] },
  rng: StreamRng,
): number[] {
  const order = Array.from(scores, (_, i) => i).sort((a, b) => scores[a] - scores[b] || a - b);
  const { rule, m } = select;
  if (rule === 'hardest') return order.slice(order.length - m).reverse();
  if (rule === 'easiest') return order.slice(0, m);
  const candidates =
    rule === 'band' && select.band
      ? order.slice(Math.floor(select.band[0] * order.length), Math.ceil(select.band[1] * order.length))
      : order;
  // A seeded partial Fisher-Yates shuffle: m distinct ids (all of them when the band is smaller).
  const pick = [...candidates];
  const k = Math.min(m, pick.length);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(pick.length - i);
    [pick[i], pick[j]] = [pick[j], pick[i]];
  }
  return pick.slice(0, k);
}

/**
 * The ids curated phase `index` trains on: `kept` (a resumed run's selection) when given, else the
 * choice of `select` over `scores()` of its `pool`-item pool (drawn on the `select:<index>` stream of
 * the plan's seed), reported through `onSelect`; `memo` may supply scores computed before.
 */
export async function curate(
  select: NonNullable<Phase['select']>,
  pool: number,
  index: number,
  seed: number,
  kept: number[] | undefined,
  scores: () => Promise<ArrayLike<number>>,
  onSelect: (s: Selection) => void,
  memo?: ScoreMemo,
): Promise<number[]> {
  if (kept) return kept;
  const s = await (memo ? memo(scores) : scores());
  const ids = selectIds(s, select, new StreamRng(`select:${index}`, seed));
  onSelect({ rule: select.rule, pool, ids, scores: ids.map((i) => s[i]) });
  return ids;
}
