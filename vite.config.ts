/**
 * One config for the demo build (`vite`, `vite build`) and for vitest, which runs the same test
 * files twice: in Node (Dawn from the `webgpu` package) and in headless Chromium (its own WebGPU).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { playwright } from '@vitest/browser-playwright';
import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';
import type { BrowserCommand } from 'vitest/node';
import { CHROMIUM, CHROMIUM_ARGS } from './test/chromium.ts';

const TEST_FILES = ['test/**/*.test.ts'];
/** Tests of the Node command line (they spawn processes); the browser project leaves them out. */
const NODE_ONLY = ['test/**/*.node.test.ts'];
const TEST_TIMEOUT_MS = 120_000;

/**
 * A browser-test command that runs a plan in this Node process (Dawn) and returns its held-out
 * metrics, so one test can compare the browser's run of a plan with Node's, in the same run.
 */
const runPlanInNode: BrowserCommand<[plan: unknown]> = async (ctx, plan) => {
  const mod = (await ctx.project.vite.ssrLoadModule('/src/train/headless.ts')) as typeof import('./src/train/headless.ts');
  return mod.runPlanHeadless(plan);
};

const RESULTS = fileURLToPath(new URL('results', import.meta.url));
const PAPER_RESULTS = 'virtual:paper-results';

/**
 * `virtual:paper-results`: for each results/DIR/results.json of `npm run paper`, the fields the demo
 * page shows (not its rows, half a megabyte each), by DIR; pooledFrom is the number of runs a set
 * pooled by `paper --merge` came from. Read when the page is built (and again when a file changes).
 */
function paperResults(): Plugin {
  return {
    name: 'paper-results',
    resolveId: (id) => (id === PAPER_RESULTS ? `\0${PAPER_RESULTS}` : undefined),
    load(id) {
      if (id !== `\0${PAPER_RESULTS}`) return undefined;
      const sets: Record<string, unknown> = {};
      for (const dir of readdirSync(RESULTS).sort()) {
        const file = join(RESULTS, dir, 'results.json');
        if (!existsSync(file)) continue;
        this.addWatchFile(file);
        const r = JSON.parse(readFileSync(file, 'utf8'));
        const { preset, target, seeds, runs, seconds, settings, verdicts } = r;
        sets[dir] = { preset, target, seeds, runs, seconds, settings, verdicts, pooledFrom: r.sources?.length };
      }
      return `export default ${JSON.stringify(sets)};`;
    },
  };
}

export default defineConfig({
  plugins: [paperResults()],
  root: 'demo',
  base: './',
  build: {
    outDir: '../dist',
    emptyOutDir: true,
    // One page, one bundle: lit, Observable Plot (with d3) and the kernels come to about 600 kB.
    chunkSizeWarningLimit: 1000,
  },
  test: {
    // `root: 'demo'` above is for the site; tests live at the top level.
    root: '.',
    testTimeout: TEST_TIMEOUT_MS,
    hookTimeout: TEST_TIMEOUT_MS,
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: TEST_FILES,
          environment: 'node',
          // After each file, the shared runtime's guard zones (test/runtime.ts) must be untouched.
          setupFiles: ['test/guards.setup.ts'],
          // Dawn reads VK_ICD_FILENAMES when it starts, and src/device/node.ts sets it in
          // process.env: worker threads would not pass that on, child processes do.
          pool: 'forks',
          // Test files share their worker's modules, so one runtime and its compiled pipelines
          // serve every file of a worker (compiling on SwiftShader is most of a small test's time).
          isolate: false,
        },
      },
      {
        extends: true,
        // Never pre-bundle the Node-only modules for the page.
        optimizeDeps: { exclude: ['webgpu'] },
        test: {
          name: 'browser',
          include: TEST_FILES,
          exclude: NODE_ONLY,
          fileParallelism: false,
          maxWorkers: 1,
          browser: {
            enabled: true,
            headless: true,
            // One page for every file: one device, its pipelines compiled once (half the time).
            isolate: false,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS },
            }),
            instances: [{ browser: 'chromium' }],
            commands: { runPlanInNode },
          },
        },
      },
    ],
  },
});
