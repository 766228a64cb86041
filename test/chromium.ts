/**
 * Node only: how the tests start Chromium, shared by vitest's browser project (vite.config.ts) and the
 * demo page's test (test/site.ts). The system's Chromium (scripts/ensure-gpu-driver.sh installs
 * it), never Playwright's download.
 *
 * `--enable-unsafe-webgpu` is the one flag WebGPU needs in headless Chromium on Linux: with it the
 * page gets a SwiftShader adapter (google / swiftshader, a fallback adapter) when there is no GPU.
 * The page must be a secure context (localhost is). The rest keep Chromium from reaching for the
 * network, which is closed on CI machines.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
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
