/**
 * Training on the GPU: NaN/Inf detected on the device and reported with the step and the tensors;
 * GPU memory that does not grow with the number of steps.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { TransformerModel } from '../src/models/transformer.ts';
import { Rng } from '../src/reference/random.ts';
import { FiniteMonitor, NonFiniteError } from '../src/train/monitor.ts';
import { AdamW } from '../src/train/optimizer.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

const cfg = { vocab: 13, context: 16, dModel: 16, layers: 2, heads: 2 };
const [B, T] = [2, 16];

function setup(seed: number) {
  const model = new TransformerModel(rt, cfg, { B, T }, seed);
  const rng = new Rng(seed);
  const tokens = Array.from({ length: B * T }, () => rng.int(cfg.vocab));
  model.setBatch(
    tokens,
    tokens.map((t) => (t + 1) % cfg.vocab),
  );
  const opt = new AdamW(rt, model.params, model.grads, { lr: 1e-2, maxNorm: 1 });
  const monitor = new FiniteMonitor(rt, model.params, model.grads, 4);
  const step = (i: number) =>
    rt.batch(`step ${i}`, () => {
      model.forwardBackward();
      monitor.record(i);
      opt.update();
    });
  const destroy = () => {
    model.destroy();
    opt.destroy();
    monitor.destroy();
  };
  return { model, step, monitor, destroy };
}

describe('FiniteMonitor', () => {
  it('stays quiet while training is finite', async () => {
    const { step, monitor, model, destroy } = setup(1);
    for (let i = 0; i < 8; i++) {
      step(i);
      if (i % 4 === 3) await monitor.check((await rt.readF32(model.loss))[0]);
    }
    destroy();
  });

  it('a NaN injected into a weight is reported with its step and the tensors', async () => {
    const { step, monitor, model, destroy } = setup(2);
    step(0);
    step(1);
    const w1 = model.params.views['h1.mlp.w1'];
    const poisoned = await rt.readF32(w1);
    poisoned[5] = Number.NaN;
    rt.write(w1, poisoned);
    step(2);
    step(3);
    const err = await monitor.check().catch((e) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect(err.step).toBe(2);
    expect(err.message).toMatch(/non-finite gradient values at step 2/);
    expect(err.message).toMatch(/parameters with NaN\/Inf now: .*h1\.mlp\.w1/);
    expect(err.tensors).toContain('h1.mlp.w1');
    destroy();
  });

  it('a non-finite loss is reported even when the gradients are finite', async () => {
    const { monitor, destroy } = setup(3);
    await expect(monitor.check(Number.POSITIVE_INFINITY)).rejects.toThrow(/the loss is Infinity/);
    destroy();
  });
});

describe('GPU memory over steps', () => {
  it('does not grow with the number of steps', async () => {
    const { step, model, destroy } = setup(4);
    step(0);
    await rt.sync();
    const [bytes, buffers] = [rt.bytesAllocated, rt.buffersAllocated];
    for (let i = 1; i <= 20; i++) step(i);
    await rt.readF32(model.loss);
    expect(rt.bytesAllocated).toBe(bytes);
    expect(rt.buffersAllocated).toBe(buffers);
    expect(model.bytes).toBeGreaterThan(0);
    destroy();
  });
});
