/**
 * One plot per experiment, drawn with Observable Plot from the measured rows (chosen learning rates;
 * a dot per seed, a line through the means). Pure: the caller passes a DOM `document` (the
 * browser's, or linkedom's in Node) and gets SVG text back.
 */
import * as Plot from '@observablehq/plot';
import { type ExperimentName, figureKey, lengthFigureKey, SETTING_NAMES } from './protocol.ts';
import { chosenRows, mean, RECIPE_VARIANTS, type Row } from './verdicts.ts';

type Datum = Record<string, string | number>;

const WIDTH = 720;

/** Means over seeds of `y` per group, for the line marks. */
function means(points: Datum[], keys: string[], y: string): Datum[] {
  const groups = new Map<string, Datum[]>();
  for (const p of points) {
    const k = keys.map((key) => p[key]).join('\u0000');
    groups.set(k, [...(groups.get(k) ?? []), p]);
  }
  return [...groups.values()].map((g) => ({ ...g[0], [y]: mean(g.map((p) => p[y] as number)) }));
}

/** The <svg> of a Plot figure (a figure wraps the svg when there is a legend). */
function svgElement(el: Element): Element {
  const svg = el.tagName.toLowerCase() === 'svg' ? el : el.querySelector('svg');
  if (!svg) throw new Error('Plot returned no <svg>');
  return svg;
}

function svgOf(el: Element): string {
  const svg = svgElement(el);
  if (!svg.getAttribute('xmlns')) svg.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  return svg.outerHTML;
}

/**
 * A plot with its colour legend above it, as one standalone SVG: Plot draws the categorical legend
 * (as a ramp, which is an SVG) and the chart; the two are stacked in an outer <svg>.
 */
function withLegend(chart: Element, domain: string[], label: string, document: Document): string {
  const legend = svgElement(
    // Plot reads `document` at run time (for Node); its typings leave it out of legend's options.
    Plot.legend({
      document,
      legend: 'ramp',
      width: 80 * domain.length,
      color: { type: 'categorical', domain, label },
    } as Parameters<typeof Plot.legend>[0]) as Element,
  );
  const plot = svgElement(chart);
  const lh = Number(legend.getAttribute('height'));
  const w = Math.max(Number(plot.getAttribute('width')), Number(legend.getAttribute('width')));
  const h = lh + Number(plot.getAttribute('height'));
  plot.setAttribute('y', String(lh));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${legend.outerHTML}${plot.outerHTML}</svg>`;
}

function sftPlot(rows: Row[], document: Document): string {
  const points: Datum[] = chosenRows(rows, 'sft', {})
    .filter((r) => r.condition.rule !== undefined)
    .flatMap((r) =>
      (['target', 'pretrain'] as const).map((metric) => ({
        m: r.condition.m,
        rule: r.condition.rule,
        regime: r.condition.regime,
        metric: metric === 'target' ? 'target error' : 'pretrain-mix error',
        error: r.metrics[metric],
      })),
    );
  const start = chosenRows(rows, 'sft', { stage: 'pretrained' });
  const starts: Datum[] = ['target', 'pretrain'].map((metric) => ({
    metric: metric === 'target' ? 'target error' : 'pretrain-mix error',
    error: mean(start.map((r) => r.metrics[metric])),
  }));
  const lines = means(points, ['rule', 'regime', 'metric', 'm'], 'error');
  return withLegend(
    Plot.plot({
      document,
      width: WIDTH,
      height: 460,
      marginRight: 110,
      x: { type: 'log', label: 'SFT examples m', grid: true },
      // Log scale: the target errors (about 0.5-1) and the forgetting (up to about 3) share the axis.
      y: { type: 'log', label: '||ŵ − w||² (test, log scale)', grid: true },
      fx: { label: 'regime' },
      fy: { label: null },
      color: { legend: false, domain: ['hardest', 'random', 'easiest'] },
      marks: [
        Plot.ruleY(starts, { y: 'error', fy: 'metric', stroke: '#888', strokeDasharray: '4 3' }),
        Plot.line(lines, { x: 'm', y: 'error', stroke: 'rule', z: 'rule', fx: 'regime', fy: 'metric', sort: 'm' }),
        Plot.dot(points, { x: 'm', y: 'error', stroke: 'rule', fx: 'regime', fy: 'metric', r: 2 }),
      ],
    }) as Element,
    ['hardest', 'random', 'easiest'],
    'selection rule',
    document,
  );
}

function rlPlot(rows: Row[], document: Document): string {
  const points: Datum[] = chosenRows(rows, 'rl', {})
    .filter((r) => r.condition.band !== undefined)
    .map((r) => ({ N: r.condition.N, band: r.condition.band, error: r.metrics.target }));
  const start = mean(chosenRows(rows, 'rl', { stage: 'pretrained' }).map((r) => r.metrics.target));
  const lines = means(points, ['band', 'N'], 'error');
  return withLegend(
    Plot.plot({
      document,
      width: WIDTH,
      height: 320,
      marginRight: 70,
      x: { type: 'log', label: 'distinct RL prompts N', grid: true },
      y: { label: 'target error after RL (test)', grid: true },
      color: { domain: ['easy', 'medium', 'hard'] },
      marks: [
        Plot.ruleY([start], { stroke: '#888', strokeDasharray: '4 3' }),
        Plot.text([start], { x: 0, frameAnchor: 'left', y: (d: number) => d, text: () => 'start', dy: -6, fill: '#888' }),
        Plot.line(lines, { x: 'N', y: 'error', stroke: 'band', z: 'band', sort: 'N' }),
        Plot.dot(points, { x: 'N', y: 'error', stroke: 'band', r: 2 }),
      ],
    }) as Element,
    ['easy', 'medium', 'hard'],
    'difficulty band',
    document,
  );
}

function balancePlot(rows: Row[], document: Document): string {
  const starts = new Map(
    chosenRows(rows, 'balance', { stage: 'start' }).map((r) => [
      `${r.condition.model} ${r.condition.pretrain} ${r.condition.match} ${r.seed}`,
      r,
    ]),
  );
  const points: Datum[] = chosenRows(rows, 'balance', { stage: 'post' }).map((r) => {
    const s = starts.get(`${r.condition.model} ${r.condition.pretrain} ${r.condition.match} ${r.seed}`);
    const t = s?.metrics.tail ?? Number.NaN;
    return { condition: `${r.condition.model} ${r.condition.pretrain} ${r.condition.match}`, gain: (t - r.metrics.tail) / t };
  });
  const bars = means(points, ['condition'], 'gain');
  return svgOf(
    Plot.plot({
      document,
      width: WIDTH,
      height: 300,
      marginLeft: 170,
      x: { label: 'relative gain on the rare (tail) domain after post-training', grid: true },
      y: { label: null },
      marks: [
        Plot.barX(bars, { y: 'condition', x: 'gain', fill: '#9ab' }),
        Plot.dot(points, { y: 'condition', x: 'gain', stroke: 'black', r: 2.5 }),
        Plot.ruleX([0]),
      ],
    }),
  );
}

function recipePlot(rows: Row[], document: Document): string {
  const points: Datum[] = chosenRows(rows, 'recipe', {})
    .filter((r) => r.condition.variant !== undefined)
    .map((r) => ({ variant: r.condition.variant, error: r.metrics.target }));
  const bars = means(points, ['variant'], 'error');
  const start = mean(chosenRows(rows, 'recipe', { stage: 'pretrained' }).map((r) => r.metrics.target));
  return svgOf(
    Plot.plot({
      document,
      width: WIDTH,
      height: 300,
      marginLeft: 150,
      x: { label: 'final target error (test)', grid: true },
      y: { label: null, domain: [...RECIPE_VARIANTS] },
      marks: [
        Plot.barX(bars, { y: 'variant', x: 'error', fill: (d: Datum) => (d.variant === 'recipe' ? '#4a7' : '#9ab') }),
        Plot.dot(points, { y: 'variant', x: 'error', stroke: 'black', r: 2.5 }),
        Plot.ruleX([start], { stroke: '#888', strokeDasharray: '4 3' }),
        Plot.ruleX([0]),
      ],
    }),
  );
}

/**
 * Response length of the RL samples over training (rows with curves): one panel per N, a thin line
 * per seed and a thick one through their mean, coloured by band. Undefined when no row has a curve.
 */
function rlLengthPlot(rows: Row[], document: Document): string | undefined {
  const runs = chosenRows(rows, 'rl', {}).filter((r) => r.condition.band !== undefined && r.curve);
  if (!runs.length) return undefined;
  const points: Datum[] = runs.flatMap((r) =>
    (r.curve?.step ?? []).map((step, i) => ({
      step,
      N: `N = ${r.condition.N}`,
      band: r.condition.band,
      run: `${r.condition.band} ${r.condition.N} ${r.seed}`,
      length: r.curve?.length[i] ?? Number.NaN,
    })),
  );
  const lines = means(points, ['band', 'N', 'step'], 'length');
  const panels = [...new Set(runs.map((r) => Number(r.condition.N)))].sort((a, b) => a - b).map((n) => `N = ${n}`);
  return withLegend(
    Plot.plot({
      document,
      width: WIDTH,
      height: 300,
      x: { label: 'RL update', grid: true },
      y: { label: 'response length (tokens, samples)', grid: true },
      fx: { label: null, domain: panels },
      color: { legend: false, domain: ['easy', 'medium', 'hard'] },
      marks: [
        Plot.line(points, { x: 'step', y: 'length', stroke: 'band', z: 'run', fx: 'N', strokeOpacity: 0.3, sort: 'step' }),
        Plot.line(lines, { x: 'step', y: 'length', stroke: 'band', z: 'band', fx: 'N', strokeWidth: 2.5, sort: 'step' }),
      ],
    }) as Element,
    ['easy', 'medium', 'hard'],
    'difficulty band',
    document,
  );
}

const PLOTS: Record<ExperimentName, (rows: Row[], document: Document) => string> = {
  sft: sftPlot,
  rl: rlPlot,
  balance: balancePlot,
  recipe: recipePlot,
};

/**
 * SVG text of each plot that has rows, one per setting and experiment, keyed by figureKey; and where
 * RL rows carry curves, the response length over RL training, keyed lengthFigureKey(setting).
 */
export function plotAll(rows: Row[], document: Document): Record<string, string> {
  const out: Record<string, string> = {};
  for (const setting of SETTING_NAMES) {
    const own = rows.filter((r) => r.setting === setting);
    for (const e of Object.keys(PLOTS) as ExperimentName[])
      if (own.some((r) => r.experiment === e)) out[figureKey(setting, e)] = PLOTS[e](own, document);
    const length = rlLengthPlot(own, document);
    if (length) out[lengthFigureKey(setting)] = length;
  }
  return out;
}
