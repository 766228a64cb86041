/**
 * Node only: dawn.node's busy poll, paced (src/device/node.ts). Other callers of setImmediate are
 * passed through untouched; a wait of Dawn's polls flat out for its first DAWN_SPIN_MS, then on a
 * 1 ms timer; a new wait starts flat out again.
 */
import { promisify } from 'node:util';
import { setImmediate as nodeSetImmediate } from 'node:timers';
import { describe, expect, it } from 'vitest';
import { DAWN_SPIN_MS, pacedSetImmediate } from '../src/device/node.ts';
import { getTestRuntime } from './runtime.ts';

/** A fake setImmediate and timer that record what was queued, a fake clock, and Dawn's poll loop. */
function harness() {
  let clock = 0;
  const queued: { how: 'immediate' | 'timer'; fn: (...a: unknown[]) => void; args: unknown[]; at: number }[] = [];
  const dawnPolls = new WeakSet<object>();
  const set = pacedSetImmediate(
    (fn, ...args) => queued.push({ how: 'immediate', fn, args, at: clock }),
    (fn, ms) => {
      expect(ms).toBe(1);
      return queued.push({ how: 'timer', fn, args: [], at: clock });
    },
    { isDawnPoll: (fn) => typeof fn === 'function' && dawnPolls.has(fn), now: () => clock },
  );
  /** A wait of `polls` polls, each 0.5 ms apart (a poll re-queues itself until the wait is over). */
  function wait(polls: number): ('immediate' | 'timer')[] {
    let left = polls;
    const poll = () => {
      clock += 0.5;
      if (--left > 0) set(poll);
    };
    dawnPolls.add(poll);
    const start = queued.length;
    set(poll);
    for (let i = start; i < queued.length; i++) queued[i].fn(...queued[i].args);
    return queued.slice(start).map((q) => q.how);
  }
  return { set, queued, wait, advance: (ms: number) => (clock += ms) };
}

describe('pacedSetImmediate', () => {
  it('passes every other callback through, with its arguments', () => {
    const h = harness();
    const got: unknown[] = [];
    h.set((a, b) => got.push(a, b), 1, 'two');
    expect(h.queued.map((q) => q.how)).toEqual(['immediate']);
    h.queued[0].fn(...h.queued[0].args);
    expect(got).toEqual([1, 'two']);
  });

  it("a wait of Dawn's polls flat out for its first DAWN_SPIN_MS, then on a 1 ms timer; the next wait starts flat out", () => {
    const h = harness();
    const flat = Math.ceil(DAWN_SPIN_MS / 0.5);
    const first = h.wait(12);
    expect(first).toEqual([...Array(flat).fill('immediate'), ...Array(12 - flat).fill('timer')]);
    h.advance(5);
    // A new wait (queued from outside a poll) is not penalised by the last one's length.
    expect(h.wait(2)).toEqual(['immediate', 'immediate']);
  });

  it('is installed in this process with the device, and setImmediate still works for everyone else', async () => {
    await getTestRuntime();
    if (process.env.WEBGPU_TRAIN_BUSY_POLL !== '1') expect(globalThis.setImmediate).not.toBe(nodeSetImmediate);
    const args: unknown[] = [];
    await new Promise<void>((resolve) =>
      setImmediate(
        (a: number, b: string) => {
          args.push(a, b);
          resolve();
        },
        7,
        'x',
      ),
    );
    expect(args).toEqual([7, 'x']);
    expect(await promisify(setImmediate)('value')).toBe('value');
  });
});
