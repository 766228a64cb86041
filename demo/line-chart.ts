/**
 * A line chart of curves against the global step, drawn with Observable Plot: one line per series
 * (dots where a series has few points), dashed rules with the phase names at the phase boundaries,
 * a log scale for positive values that span more than a decade. Shared by <run-charts> and
 * <run-compare>; returns the element Plot made (a figure with a legend, or an svg).
 */
import * as Plot from '@observablehq/plot';
import type { Point } from '../src/train/curves.ts';

export interface LineChartOptions {
  points: Point[];
  boundaries?: { x: number; phase: string }[];
  y: string;
  width: number;
  height?: number;
  /** Show a colour legend of the series. */
  legend?: boolean;
}

export function lineChart(o: LineChartOptions): HTMLElement | SVGSVGElement {
  const ys = o.points.map((p) => p.y).filter(Number.isFinite);
  const positive = ys.length > 0 && ys.every((y) => y > 0);
  const log = positive && Math.max(...ys) / Math.min(...ys) > 10;
  const sparse = o.points.length < 60;
  const boundaries = o.boundaries ?? [];
  return Plot.plot({
    width: o.width,
    height: o.height ?? 190,
    marginLeft: 52,
    marginRight: 16,
    style: { fontSize: '11px', overflow: 'visible' },
    x: { label: 'step (all phases)', grid: false, nice: true },
    y: { label: o.y, grid: true, type: log ? 'log' : 'linear', ...(log ? {} : { nice: true }) },
    color: o.legend ? { legend: true } : undefined,
    marks: [
      Plot.ruleX(boundaries, { x: 'x', stroke: '#999', strokeDasharray: '4,3' }),
      Plot.text(boundaries, { x: 'x', text: 'phase', frameAnchor: 'top', textAnchor: 'start', dx: 3, dy: 2, fill: '#555' }),
      Plot.line(o.points, { x: 'x', y: 'y', stroke: 'series', z: 'series', strokeWidth: 1.5 }),
      ...(sparse ? [Plot.dot(o.points, { x: 'x', y: 'y', fill: 'series', r: 2 })] : []),
    ],
  }) as HTMLElement | SVGSVGElement;
}
