/**
 * Node runs without WebGPU's robustness checks (src/device/node.ts: a kernel's accesses are not
 * clamped into its bindings), so every kernel must keep its own indices in bounds. Guard zones
 * around each tensor (Runtime.create({ guard: true })) find the accesses that do not: every Node
 * test file's runtime has them and is checked after the file (test/runtime.ts, guards.setup.ts),
 * so the kernels on the registry's awkward shapes (test/kernels.test.ts) and every other test
 * are covered. Here: a kernel that writes and reads one element past its tensors shows that the
 * zones find it (and, with WEBGPU_TRAIN_ROBUSTNESS=1, that the checks clamp it instead); and a
 * run of each model through pretraining, SFT and RL (training steps, evaluation, curation by loss
 * and by pass rate, generation with the KV cache, sampling, the policy losses) on odd sizes leaves
 * every zone as it was, with finite metrics (a read past a tensor would bring the zones' NaN in).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KernelSpec } from '../src/gpu/kernel.ts';
import { GUARD_WORD, Runtime } from '../src/gpu/runtime.ts';
import type { PlanInput } from '../src/train/plan.ts';
import { runPlan } from '../src/train/scheduler.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.create({ guard: true });
});
afterAll(() => rt?.destroy());

// out[p.n] = 2 (one past the end when p.n = n); out[0] = inp[p.n] (a read one past inp's end).
const pastTheEnd: KernelSpec<'n'> = {
  name: 'past_the_end',
  shader: `struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;
@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main() {
  out[p.n] = 2.0;
  out[0] = inp[p.n];
}`,
  params: [['n', 'u32']],
  bindings: [
    { name: 'inp', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  workgroupSize: [1, 1, 1],
  dispatch: () => [1, 1, 1],
};

describe('guard zones around every tensor', () => {
  it('find a kernel that writes past its output, and show a read past an input as NaN', async () => {
    const inp = rt.tensor([1, 2, 3, 4], [4], 'f32', 'inp');
    const out = rt.empty([4], 'f32', 'out');
    rt.dispatch(pastTheEnd, { params: { n: 4 }, tensors: { inp, out }, shapes: 'inp[4], out[4]' });
    const found = await rt.checkGuards();
    const read = await rt.read(out);
    if (rt.report.robustness) {
      // The checks clamp both accesses to the last element: nothing leaves the bindings.
      expect(found).toEqual([]);
      expect(read[0]).toBe(4);
    } else {
      expect(found).toHaveLength(1);
      expect(found[0]).toMatch(/^out\[4\]: 1 word\(s\) after its end changed \(nearest 0 word\(s\) away, 0x40000000\)$/);
      expect(new Uint32Array(Float32Array.of(read[0]).buffer)[0]).toBe(GUARD_WORD);
    }
    inp.destroy();
    out.destroy();
    expect(await rt.checkGuards()).toEqual([]);
  });

  it('refuses to check a runtime made without them', async () => {
    const plain = await Runtime.create();
    try {
      await expect(plain.checkGuards()).rejects.toThrow(/without guard zones/);
    } finally {
      plain.destroy();
    }
  });
});

describe('every model stays inside its tensors through a whole run', () => {
  const regression = (model: PlanInput['model']): PlanInput => ({
    seed: 3,
    task: { kind: 'regression', d: 5, n: 13, head: 2 },
    model,
    batch: 12,
    eval: { size: 37, every: 100 },
    phases: [
      { name: 'pretrain', kind: 'pretrain', steps: 6, lr: 0.01 },
      { name: 'sft', kind: 'sft', pool: 40, select: { rule: 'hardest', m: 9 }, steps: 3, lr: 0.003 },
      {
        name: 'rl',
        kind: 'rl',
        pool: 40,
        select: { rule: 'band', band: 'medium', m: 10, by: 'pass-rate' },
        steps: 3,
        lr: 0.003,
        group: 3,
      },
    ],
  });
  const plans: Record<string, PlanInput> = {
    'merged LSA': regression({ kind: 'lsa-merged' }),
    'factorised LSA': regression({ kind: 'lsa-factorised' }),
    'ICL transformer': regression({ kind: 'icl-transformer', dModel: 8, layers: 2, heads: 2 }),
    'token transformer (generation, sampling, policy loss)': {
      seed: 4,
      task: { kind: 'pointer', nodes: 5, maxHops: 3 },
      model: { kind: 'transformer', dModel: 16, layers: 2, heads: 2 },
      batch: 6,
      eval: { size: 11, every: 1000 },
      phases: [
        { name: 'pretrain', kind: 'pretrain', steps: 5, lr: 0.01 },
        {
          name: 'sft',
          kind: 'sft',
          pool: 20,
          select: { rule: 'hardest', m: 6, by: 'pass-rate', samples: 3 },
          steps: 3,
          lr: 0.003,
        },
        { name: 'rl', kind: 'rl', pool: 20, select: { rule: 'band', m: 5, band: 'medium' }, steps: 3, lr: 0.003, group: 3 },
      ],
    },
  };
  for (const [name, plan] of Object.entries(plans)) {
    it(name, async () => {
      const phases = await runPlan(rt, plan);
      expect(phases.map((p) => p.name)).toEqual(['pretrain', 'sft', 'rl']);
      for (const p of phases) {
        for (const [k, v] of Object.entries(p.metrics))
          if (typeof v === 'number') expect(Number.isFinite(v), `${p.name}.${k}`).toBe(true);
      }
      expect(await rt.checkGuards()).toEqual([]);
    });
  }
});
