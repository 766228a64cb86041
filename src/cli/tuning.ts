/**
 * The kernel tuning cache of the command line: one JSON file holding a tuning per adapter
 * (src/bench/tune.ts), in $WEBGPU_TRAIN_CACHE or ~/.cache/webgpu-train/. `bench --tune` writes it;
 * every command that acquires a device uses the entry of its adapter, when there is one.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Runtime } from '../gpu/runtime.ts';
import { describeTuning, parseTuningCache, type Tuning, type TuningCache, useTuning, withTuning } from '../bench/tune.ts';
import { writeFileAtomic } from './io.ts';

export function tuningCachePath(): string {
  return join(process.env.WEBGPU_TRAIN_CACHE ?? join(homedir(), '.cache', 'webgpu-train'), 'tuning.json');
}

/** The cache, or an empty one when it is missing or unreadable (a bad cache only costs the tuning). */
export function loadTuningCache(path = tuningCachePath()): { cache: TuningCache; problem?: string } {
  if (!existsSync(path)) return { cache: {} };
  try {
    return { cache: parseTuningCache(readFileSync(path, 'utf8')) };
  } catch (e) {
    return {
      cache: {},
      problem: `ignoring the tuning cache ${path}: ${(e as Error).message} (\`npm run bench -- --tune\` rewrites it)`,
    };
  }
}

export function saveTuning(t: Tuning, path = tuningCachePath()): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, `${JSON.stringify(withTuning(loadTuningCache(path).cache, t), null, 2)}\n`);
}

/** Use this adapter's cached tuning on `rt`; returns a line saying what was used. */
export function useCachedTuning(rt: Runtime): string {
  const path = tuningCachePath();
  const { cache, problem } = loadTuningCache(path);
  if (problem) return problem;
  const found = useTuning(rt, cache);
  if (!found) return '';
  return `kernel variants tuned for this adapter on ${found.tunedAt.slice(0, 10)} (${path}): ${describeTuning(found)}`;
}
