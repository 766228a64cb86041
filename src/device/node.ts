/**
 * Node only: a GPU from the `webgpu` package (Dawn). On Linux with no Vulkan driver for a real GPU,
 * find the SwiftShader ICD that Chromium ships and point the Vulkan loader at it before Dawn starts.
 * This file is imported dynamically by ./index.ts so that the browser bundle never sees it.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { NoWebGPUError } from './errors.ts';

/** Where SwiftShader's Vulkan ICD is installed by the common Chromium/Chrome packages. */
export const SWIFTSHADER_ICD_PATHS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json', // Debian/Ubuntu `chromium`
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json', // older Ubuntu `chromium-browser`
  '/opt/google/chrome/vk_swiftshader_icd.json', // Google Chrome .deb
  '/opt/google/chrome-beta/vk_swiftshader_icd.json',
  '/snap/chromium/current/usr/lib/chromium-browser/vk_swiftshader_icd.json',
];

/** Directories where Vulkan drivers register themselves, which the loader searches by itself. */
const LOADER_ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];

/**
 * Where a driver may be registered outside the loader's own search: NVIDIA's driver as some GPU
 * containers mount it. A driver found there is named to the loader (VK_ICD_FILENAMES).
 */
const OTHER_ICD_DIRS = ['/usr/local/nvidia/share/vulkan/icd.d'];

const ICD_DIRS = [...LOADER_ICD_DIRS, ...OTHER_ICD_DIRS];

/** Drivers Dawn cannot use (lavapipe lacks required descriptor indexing features). */
const UNUSABLE_ICD = /lvp_icd|lavapipe/;

export const INSTALL_COMMAND = 'apt-get install -y chromium libvulkan1';

export const INSTALL_HINT =
  'Install Chromium, which ships SwiftShader (a Vulkan driver on the CPU), and the Vulkan loader: ' +
  `\`sudo apt-get update && sudo ${INSTALL_COMMAND}\` on Debian/Ubuntu. ` +
  'Or set VK_ICD_FILENAMES to the vk_swiftshader_icd.json or GPU driver ICD of your choice.';

export function findSwiftShaderICD(): string | undefined {
  return SWIFTSHADER_ICD_PATHS.find((p) => existsSync(p));
}

/** The Vulkan loader Dawn dlopens by name; Debian's package is libvulkan1. */
export function findVulkanLoader(): string | undefined {
  const dirs = ['/usr/lib', '/lib', '/usr/lib64', '/usr/local/lib'];
  for (const dir of dirs) {
    if (existsSync(`${dir}/libvulkan.so.1`)) return `${dir}/libvulkan.so.1`;
    if (!existsSync(dir)) continue;
    for (const sub of readdirSync(dir)) {
      if (sub.endsWith('-linux-gnu') && existsSync(`${dir}/${sub}/libvulkan.so.1`)) return `${dir}/${sub}/libvulkan.so.1`;
    }
  }
  return undefined;
}

/** A GPU the kernel exposes (NVIDIA's device nodes, or a DRM render node). */
function hasGpuDeviceNode(): boolean {
  if (existsSync('/dev/nvidia0')) return true;
  return existsSync('/dev/dri') && readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
}

/**
 * Real GPU drivers registered on this system (not lavapipe), as ICD json paths, when there is
 * GPU hardware for them: Mesa installs its ICD files on machines without any GPU too.
 */
export function findGpuICDs(): string[] {
  if (!hasGpuDeviceNode()) return [];
  const found: string[] = [];
  for (const dir of ICD_DIRS) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      if (f.endsWith('.json') && !UNUSABLE_ICD.test(f)) found.push(`${dir}/${f}`);
    }
  }
  return found;
}

/**
 * The GPU drivers found, for the loader: as it finds them itself when all lie where it searches,
 * else named to it in `env` (all of them, so none is lost). Returns the report's line.
 */
export function useGpuICDs(gpus: readonly string[], env: NodeJS.ProcessEnv): string {
  if (gpus.every((g) => LOADER_ICD_DIRS.some((d) => g.startsWith(`${d}/`)))) return `system Vulkan drivers: ${gpus.join(', ')}`;
  env.VK_ICD_FILENAMES = gpus.join(':');
  return `GPU Vulkan drivers, named to the loader: ${gpus.join(', ')}`;
}

/**
 * Decide which Vulkan driver Dawn will see, and set the loader's environment accordingly.
 * Returns a line that says what was chosen, for the run's report.
 */
export function chooseVulkanDriver(env: NodeJS.ProcessEnv = process.env): string {
  if (process.platform !== 'linux') return 'system default (not Linux)';
  if (!findVulkanLoader()) {
    throw new NoWebGPUError(
      `The Vulkan loader (libvulkan.so.1) is not installed, so Dawn cannot find any adapter. ${INSTALL_HINT}`,
    );
  }
  const preset = env.VK_ICD_FILENAMES ?? env.VK_DRIVER_FILES;
  if (preset) return `from environment: ${preset}`;
  if (env.WEBGPU_ADAPTER !== 'swiftshader') {
    const gpus = findGpuICDs();
    if (gpus.length > 0) return useGpuICDs(gpus, env);
  }
  const swiftshader = findSwiftShaderICD();
  if (!swiftshader) {
    throw new NoWebGPUError(
      `No Vulkan driver that Dawn can use was found (looked in ${ICD_DIRS.join(', ')} and for SwiftShader at ${SWIFTSHADER_ICD_PATHS.join(', ')}). ${INSTALL_HINT}`,
    );
  }
  env.VK_ICD_FILENAMES = swiftshader;
  return `SwiftShader: ${swiftshader}`;
}

/**
 * Dawn prints a harmless "error: XDG_RUNTIME_DIR is invalid or not set" when that variable does not
 * name a 0700 directory of this user; give it one of its own so every run's output stays clean.
 */
export function ensureXdgRuntimeDir(env: NodeJS.ProcessEnv = process.env): void {
  const uid = userInfo().uid;
  try {
    const current = env.XDG_RUNTIME_DIR;
    if (current) {
      const st = statSync(current);
      if (st.isDirectory() && (st.mode & 0o777) === 0o700 && st.uid === uid) return;
    }
  } catch {
    // missing or unusable: make one below
  }
  try {
    const dir = join(tmpdir(), `webgpu-train-xdg-${uid}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    env.XDG_RUNTIME_DIR = dir;
  } catch {
    // only a warning is at stake
  }
}

/** How long a wait of Dawn's may poll flat out before its polls are spaced by a 1 ms timer. */
export const DAWN_SPIN_MS = 2;

/** A function made by native code with no name: what dawn.node hands setImmediate to poll. */
function isNativeAnonymous(fn: unknown): boolean {
  return typeof fn === 'function' && fn.name === '' && Function.prototype.toString.call(fn).includes('[native code]');
}

/**
 * dawn.node keeps each promise it owes (mapAsync, onSubmittedWorkDone, popErrorScope) by calling
 * device.Tick() from setImmediate again and again until it settles: a busy loop on the main thread
 * for as long as the GPU works. On a CPU adapter the "GPU" is SwiftShader's threads on the same cores,
 * and the loop takes one of them (measured on 2 cores, 2026-12-05: the token setting's tiny paper run
 * 25 s -> 18.5 s and experiment 3 of setting A 133 s -> 85 s with the loop paced, the same rows).
 * This returns a setImmediate that passes every other caller through untouched and lets a wait of
 * Dawn's (a run of its polls, each queued from the one before) poll flat out for its first `spinMs`
 * milliseconds, so short waits stay short, and then spaces its polls with a 1 ms timer.
 */
export function pacedSetImmediate(
  immediate: (fn: (...args: unknown[]) => void, ...args: unknown[]) => unknown,
  timer: (fn: () => void, ms: number) => unknown,
  opts: { isDawnPoll?: (fn: unknown) => boolean; spinMs?: number; now?: () => number } = {},
): (fn: (...args: unknown[]) => void, ...args: unknown[]) => unknown {
  const { isDawnPoll = isNativeAnonymous, spinMs = DAWN_SPIN_MS, now = () => performance.now() } = opts;
  let polling = false;
  let waitStart = 0;
  return (fn, ...args) => {
    if (!isDawnPoll(fn)) return immediate(fn, ...args);
    const t = now();
    // Queued from inside a poll: the same wait goes on. Otherwise a new wait starts.
    if (!polling) waitStart = t;
    const poll = () => {
      polling = true;
      try {
        fn(...args);
      } finally {
        polling = false;
      }
    };
    return t - waitStart < spinMs ? immediate(poll) : timer(poll, 1);
  };
}

let pacing = false;

/** Install pacedSetImmediate for dawn.node (once; WEBGPU_TRAIN_BUSY_POLL=1 leaves Dawn's loop as it is). */
function paceDawnPolling(env: NodeJS.ProcessEnv = process.env): void {
  if (pacing || env.WEBGPU_TRAIN_BUSY_POLL === '1') return;
  pacing = true;
  const original = globalThis.setImmediate;
  const paced = pacedSetImmediate(
    (fn, ...args) => original(fn, ...args),
    (fn, ms) => setTimeout(fn, ms),
  );
  // Object.assign keeps Node's extras (setImmediate.__promisify__) on the replacement.
  globalThis.setImmediate = Object.assign(paced, original) as unknown as typeof setImmediate;
}

/**
 * Whether Dawn keeps WebGPU's robustness checks (every storage access clamped into its binding by
 * the shader code Tint generates). A browser always keeps them: the page may run anyone's shaders.
 * This process runs only this project's kernels, each of which keeps its own indices inside its
 * bindings (the shape checks before a dispatch, the clamps and edge paths inside the shaders; every
 * Node test file runs with guard zones around each tensor and is checked for accesses outside them:
 * test/runtime.ts, test/guard.node.test.ts), so in Node they are off unless
 * WEBGPU_TRAIN_ROBUSTNESS=1: on SwiftShader every load with a run-time index then costs a few
 * instructions less (measured 2026-12-06, 2 cores: the ICL transformer's step 0.79x its time, matmul
 * 512³ 0.80x, the same bits). Turn them on when writing a new kernel: an access out of bounds is then
 * clamped instead of reading or writing whatever lies beyond.
 */
export function keepsRobustness(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.WEBGPU_TRAIN_ROBUSTNESS === '1';
}

/** dawn.node's flags for this process (see keepsRobustness). */
export function dawnFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  return keepsRobustness(env) ? [] : ['enable-dawn-features=disable_robustness'];
}

// The object returned by create() must stay alive for the whole process: if it is garbage
// collected, Dawn crashes the process. Keep it in a module-level variable.
let gpu: GPU | undefined;
let driverNote = '';
let robust = true;

export async function nodeGPU(): Promise<{ gpu: GPU; driver: string; robustness: boolean }> {
  if (!gpu) {
    driverNote = chooseVulkanDriver();
    ensureXdgRuntimeDir();
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    paceDawnPolling();
    gpu = create(dawnFlags()) as GPU;
    robust = keepsRobustness();
  }
  return { gpu, driver: driverNote, robustness: robust };
}
