/**
 * One config for the demo build (`vite`, `vite build`) and for vitest, which runs the same test
 * files twice: in Node (Dawn from the `webgpu` package) and in headless Chromium (its own WebGPU).
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';

const TEST_FILES = ['test/**/*.test.ts'];
const TEST_TIMEOUT_MS = 120_000;

/** Chromium from the system package (scripts/ensure-gpu-driver.sh installs it); never Playwright's download. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * `--enable-unsafe-webgpu` is the one flag WebGPU needs in headless Chromium on Linux: with it the
 * page gets a SwiftShader adapter (google / swiftshader, a fallback adapter) when there is no GPU.
 * The page must be a secure context (vitest serves it from localhost, so it is).
 * The rest keep Chromium from reaching for the network, which is closed on CI machines.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-dev-shm-usage',
];

/**
 * Dawn prints "error: XDG_RUNTIME_DIR is invalid or not set" when that variable is missing. A
 * per-user 0700 directory silences it; the forks of the node project inherit it from here.
 */
function xdgRuntimeDir(): string | undefined {
  const current = process.env.XDG_RUNTIME_DIR;
  try {
    if (current) {
      const st = statSync(current);
      if (st.isDirectory() && (st.mode & 0o777) === 0o700 && st.uid === userInfo().uid) return current;
    }
  } catch {
    // missing or unusable: make our own below
  }
  try {
    const dir = join(tmpdir(), `webgpu-train-xdg-${userInfo().uid}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    return dir;
  } catch {
    return undefined;
  }
}

const xdg = xdgRuntimeDir();

export default defineConfig({
  root: 'demo',
  base: './',
  build: {
    outDir: '../dist',
    emptyOutDir: true,
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
          // Dawn reads VK_ICD_FILENAMES when it starts, and src/device/node.ts sets it in
          // process.env: worker threads would not pass that on, child processes do.
          pool: 'forks',
          env: xdg ? { XDG_RUNTIME_DIR: xdg } : {},
        },
      },
      {
        extends: true,
        // Never pre-bundle the Node-only modules for the page.
        optimizeDeps: { exclude: ['webgpu'] },
        test: {
          name: 'browser',
          include: TEST_FILES,
          fileParallelism: false,
          maxWorkers: 1,
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
