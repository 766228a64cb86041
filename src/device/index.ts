/**
 * The one module that knows whether it runs in Node or in a browser. Everything else takes a
 * GPUDevice (through a Runtime) as an argument.
 */
import { NoWebGPUError } from './errors.ts';

export { NoWebGPUError, UserError } from './errors.ts';

export const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

/** What we tell the user about the adapter in every run. */
export interface AdapterReport {
  host: 'node' | 'browser';
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  /** How the driver was found (Node: the Vulkan ICD in use). */
  driver: string;
  /**
   * Whether WebGPU's robustness checks (storage accesses clamped into their bindings) are on: always
   * in a browser; in Node only with WEBGPU_TRAIN_ROBUSTNESS=1 (see src/device/node.ts).
   */
  robustness: boolean;
  features: string[];
}

export interface AcquiredDevice {
  adapter: GPUAdapter;
  device: GPUDevice;
  report: AdapterReport;
}

async function getGPU(): Promise<{ gpu: GPU; driver: string; robustness: boolean }> {
  if (isNode) {
    // A computed specifier keeps bundlers (Vite) from following the Node-only import.
    const nodeModule = './node.ts';
    const { nodeGPU } = (await import(/* @vite-ignore */ nodeModule)) as typeof import('./node.ts');
    return nodeGPU();
  }
  const nav = (globalThis as { navigator?: Navigator }).navigator;
  if (!nav?.gpu) {
    throw new NoWebGPUError(
      'This browser has no WebGPU (navigator.gpu is missing). Use a recent Chrome, Edge or Chromium ' +
        '(on Linux start it with --enable-unsafe-webgpu), Firefox 141+ or Safari 26+, over https or localhost; ' +
        'or run the same code headless in Node with `npm start`.',
    );
  }
  return { gpu: nav.gpu, driver: 'browser', robustness: true };
}

/** Features worth having when the adapter offers them; the rest are left off. */
const WANTED_FEATURES: GPUFeatureName[] = ['timestamp-query', 'subgroups', 'shader-f16'] as GPUFeatureName[];

/**
 * Get an adapter and a device with the adapter's real limits (not the defaults), so large
 * buffers and workgroups are allowed where the hardware allows them.
 */
export async function acquireDevice(options: { powerPreference?: GPUPowerPreference } = {}): Promise<AcquiredDevice> {
  const { gpu, driver, robustness } = await getGPU();
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new NoWebGPUError(
      `WebGPU found no adapter (driver: ${driver}). ` +
        (isNode
          ? 'On Linux install Chromium for SwiftShader and the Vulkan loader: `sudo apt-get install -y chromium libvulkan1` on Debian/Ubuntu, or set VK_ICD_FILENAMES to a driver that works.'
          : 'Enable WebGPU in this browser (chrome://flags/#enable-unsafe-webgpu) or use another browser.'),
    );
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  const limits = adapter.limits as unknown as Record<string, number>;
  for (const key in limits) {
    const v = limits[key];
    if (typeof v === 'number') requiredLimits[key] = v;
  }
  const device = await adapter.requestDevice({ label: 'webgpu-train', requiredFeatures, requiredLimits });
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const report: AdapterReport = {
    host: isNode ? 'node' : 'browser',
    vendor: info.vendor || 'unknown',
    architecture: info.architecture || 'unknown',
    device: info.device || '',
    description: info.description || '',
    isFallbackAdapter: Boolean(
      (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
        (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
    ),
    driver,
    robustness,
    features: [...adapter.features].sort(),
  };
  return { adapter, device, report };
}

export function describeAdapter(r: AdapterReport): string {
  const name = [r.vendor, r.architecture, r.device].filter(Boolean).join(' / ');
  return `adapter: ${name}${r.isFallbackAdapter ? ' (fallback adapter, runs on the CPU)' : ''} [${r.host}${r.host === 'node' ? `, ${r.driver}` : ''}${r.robustness ? '' : ', robustness checks off'}]`;
}
