/**
 * Runs in both vitest projects: in Node (Dawn, SwiftShader through Vulkan) and in headless
 * Chromium (its own WebGPU). Each gets a real adapter and says which one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeAdapter, isNode } from '../src/device/index.ts';
import { Runtime } from '../src/gpu/runtime.ts';

describe('device', () => {
  let rt: Runtime;

  beforeAll(async () => {
    rt = await Runtime.create();
  });

  afterAll(() => {
    rt?.destroy();
  });

  it('acquires an adapter and reports it', () => {
    const r = rt.report;
    expect(r.host).toBe(isNode ? 'node' : 'browser');
    expect(typeof r.vendor).toBe('string');
    expect(typeof r.architecture).toBe('string');
    expect(r.vendor.length).toBeGreaterThan(0);
    expect(r.architecture.length).toBeGreaterThan(0);
    expect(Array.isArray(r.features)).toBe(true);
    const line = describeAdapter(r);
    expect(line).toContain('adapter:');
    expect(line).toContain(r.vendor);
    console.log(line);
    if (r.architecture === 'swiftshader') expect(r.isFallbackAdapter).toBe(true);
  });

  it('asks the device for the adapter limits, not the defaults', () => {
    expect(rt.limits.maxStorageBufferBindingSize).toBe(rt.adapter.limits.maxStorageBufferBindingSize);
    expect(rt.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
  });

  it('round-trips a tensor through the GPU', async () => {
    const t = rt.tensor([1, 2, 3, 4.5], [4]);
    expect(Array.from(await rt.readF32(t))).toEqual([1, 2, 3, 4.5]);
    t.destroy();
  });
});

/** Only read `process` in Node: the browser has none. */
const onLinux = isNode && process.platform === 'linux';

describe.skipIf(!isNode)('Vulkan driver choice (Node)', () => {
  // Loaded dynamically so the browser bundle never sees node:fs.
  const load = () => {
    const spec = '../src/device/node.ts';
    return import(/* @vite-ignore */ spec) as Promise<typeof import('../src/device/node.ts')>;
  };

  it('finds the Vulkan loader and a SwiftShader ICD from the known paths', async () => {
    const node = await load();
    expect(node.INSTALL_COMMAND).toBe('apt-get install -y chromium libvulkan1');
    const icd = node.findSwiftShaderICD();
    if (icd !== undefined) expect(node.SWIFTSHADER_ICD_PATHS).toContain(icd);
    if (onLinux) expect(node.findVulkanLoader()).toMatch(/libvulkan\.so\.1$/);
  });

  it.skipIf(!onLinux)('keeps a driver preset in the environment', async () => {
    const { chooseVulkanDriver } = await load();
    const env: NodeJS.ProcessEnv = { VK_ICD_FILENAMES: '/nowhere/fake_icd.json' };
    expect(chooseVulkanDriver(env)).toBe('from environment: /nowhere/fake_icd.json');
    expect(env.VK_ICD_FILENAMES).toBe('/nowhere/fake_icd.json');
    const env2: NodeJS.ProcessEnv = { VK_DRIVER_FILES: '/nowhere/other_icd.json' };
    expect(chooseVulkanDriver(env2)).toBe('from environment: /nowhere/other_icd.json');
    expect(env2.VK_ICD_FILENAMES).toBeUndefined();
  });

  it('names a GPU driver registered outside the search of the loader to it, and leaves the others to it', async () => {
    const { useGpuICDs } = await load();
    const env: NodeJS.ProcessEnv = {};
    expect(useGpuICDs(['/usr/share/vulkan/icd.d/nvidia_icd.json'], env)).toBe(
      'system Vulkan drivers: /usr/share/vulkan/icd.d/nvidia_icd.json',
    );
    expect(env.VK_ICD_FILENAMES).toBeUndefined();
    const mounted = '/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json';
    expect(useGpuICDs(['/etc/vulkan/icd.d/radeon_icd.json', mounted], env)).toBe(
      `GPU Vulkan drivers, named to the loader: /etc/vulkan/icd.d/radeon_icd.json, ${mounted}`,
    );
    expect(env.VK_ICD_FILENAMES).toBe(`/etc/vulkan/icd.d/radeon_icd.json:${mounted}`);
  });

  it.skipIf(!onLinux)('points the loader at SwiftShader when asked to, in the env it is given', async () => {
    const { chooseVulkanDriver, findSwiftShaderICD } = await load();
    const icd = findSwiftShaderICD();
    const env: NodeJS.ProcessEnv = { WEBGPU_ADAPTER: 'swiftshader' };
    if (icd === undefined) {
      expect(() => chooseVulkanDriver(env)).toThrow(/apt-get install -y chromium libvulkan1/);
      return;
    }
    expect(chooseVulkanDriver(env)).toBe(`SwiftShader: ${icd}`);
    expect(env.VK_ICD_FILENAMES).toBe(icd);
  });
});
