/**
 * The peer in the benchmark: tfjs-backend-webgpu (a dev dependency, loaded only here and only when
 * the benchmark asks for it), running on the SAME GPUDevice as our kernels, so both are timed on
 * one adapter in one run.
 *
 * Timing is the same as ours: wall clock from the first op to the completed submission. tfjs queues
 * its dispatches in its own command encoder and submits them lazily; `run(per)` queues `per` ops,
 * ends tfjs's compute pass and submits its queue (what tfjs itself does before a readback), then
 * awaits onSubmittedWorkDone. No readback in the timing, as for ours. Outputs are read once, outside
 * the timing, to check them against the CPU reference.
 */
import type { Runtime } from '../gpu/runtime.ts';

export interface PeerOp {
  /** Queue `per` runs, submit, and wait for the GPU to finish them. */
  run(per: number): Promise<void>;
  /** One run's output, read back. */
  read(): Promise<Float32Array>;
  dispose(): void;
}

export interface Peer {
  name: 'tfjs-webgpu';
  version: string;
  /** C = op(A)·op(B); A stored [K, M] when transA, B stored [N, K] when transB. */
  matmul(a: Float32Array, b: Float32Array, M: number, K: number, N: number, transA: boolean, transB: boolean): PeerOp;
  /** Row softmax of an [R, N] matrix. */
  softmax(x: Float32Array, R: number, N: number): PeerOp;
  destroy(): void;
}

/** The parts of tfjs's WebGPU backend the timing needs (what its own readback path calls). */
interface TfjsWebGpuBackend {
  endComputePassEncoder(): void;
  submitQueue(): void;
  commandEncoder: GPUCommandEncoder | null;
}

/**
 * tfjs-backend-webgpu on `rt`'s device, or why it cannot be had (not installed, failed to start).
 * tfjs registers its kernels under the backend name 'webgpu', so that name is (re)registered here
 * with a factory that hands it our device.
 */
export async function loadTfjsPeer(rt: Runtime): Promise<Peer | { unavailable: string }> {
  // tfjs-backend-webgpu checks navigator.gpu before it starts; Node 20 has no navigator.
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (!g.navigator?.gpu) {
    Object.defineProperty(globalThis, 'navigator', {
      value: { ...(g.navigator ?? {}), gpu: { requestAdapter: async () => rt.adapter } },
      configurable: true,
      writable: true,
    });
  }
  let tf: typeof import('@tensorflow/tfjs-core');
  let webgpu: typeof import('@tensorflow/tfjs-backend-webgpu');
  try {
    // Dynamic imports: the page loads tfjs (a chunk of its own) only when the benchmark runs.
    tf = await import('@tensorflow/tfjs-core');
    webgpu = await import('@tensorflow/tfjs-backend-webgpu');
  } catch (e) {
    return {
      unavailable: `tfjs-backend-webgpu is not installed (npm install -D @tensorflow/tfjs-core @tensorflow/tfjs-backend-webgpu): ${(e as Error).message}`,
    };
  }
  try {
    // tfjs's own factory would open a second device; findBackend() would start it, so ask for the factory.
    if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
    tf.registerBackend('webgpu', () => new webgpu.WebGPUBackend(rt.device, rt.adapter.info));
    if (!(await tf.setBackend('webgpu'))) return { unavailable: 'tfjs could not start its WebGPU backend on this device' };
    await tf.ready();
  } catch (e) {
    return { unavailable: `tfjs-backend-webgpu failed to start: ${(e as Error).message}` };
  }
  const backend = tf.backend() as unknown as TfjsWebGpuBackend;

  function op(inputs: import('@tensorflow/tfjs-core').Tensor[], f: () => import('@tensorflow/tfjs-core').Tensor): PeerOp {
    return {
      async run(per) {
        for (let i = 0; i < per; i++) f().dispose();
        if (backend.commandEncoder) {
          backend.endComputePassEncoder();
          backend.submitQueue();
        }
        await rt.device.queue.onSubmittedWorkDone();
      },
      async read() {
        const out = f();
        const data = (await out.data()) as Float32Array;
        out.dispose();
        return Float32Array.from(data);
      },
      dispose() {
        for (const t of inputs) t.dispose();
      },
    };
  }

  return {
    name: 'tfjs-webgpu',
    version: tf.version_core,
    matmul(a, b, M, K, N, transA, transB) {
      const ta = tf.tensor2d(a, transA ? [K, M] : [M, K]);
      const tb = tf.tensor2d(b, transB ? [N, K] : [K, N]);
      return op([ta, tb], () => tf.matMul(ta, tb, transA, transB));
    },
    softmax(x, R, N) {
      const tx = tf.tensor2d(x, [R, N]);
      return op([tx], () => tf.softmax(tx));
    },
    destroy() {
      // The device is ours: tfjs's backend is dropped without destroying it.
      tf.disposeVariables();
      tf.removeBackend('webgpu');
    },
  };
}
