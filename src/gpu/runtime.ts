/**
 * The Runtime owns one GPUDevice: it makes tensors, caches pipelines by kernel name, constants and text,
 * encodes dispatches inside error scopes, and reads results back. Errors raised by the GPU are
 * collected per dispatch and rethrown by sync()/read() with the kernel's name and shapes.
 */
import { type AcquiredDevice, type AdapterReport, acquireDevice } from '../device/index.ts';
import { DeviceLostError, KernelError, LimitError, ShapeError } from './errors.ts';
import type { KernelSpec, ParamType } from './kernel.ts';
import { type DType, type Shape, Tensor, numel, shapeString } from './tensor.ts';

/** Uniform parameter slots: one per dispatch, reused round-robin (writes are queue-ordered). */
const UNIFORM_SLOT_BYTES = 256;
const UNIFORM_SLOTS = 256;

/** Bind groups kept per pipeline (most recently used last); a training step reuses the same few. */
const BIND_GROUPS_PER_PIPELINE = 64;

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /**
   * Bind groups by the tensors bound (buffer id, offset, size of each): the parameters' uniform
   * slot is a dynamic offset, so one bind group serves every dispatch with the same tensors.
   */
  groups: Map<string, CachedBindGroup>;
}

interface CachedBindGroup {
  group: GPUBindGroup;
  /** The ids of the buffers it binds. */
  buffers: number[];
}

/**
 * What a runtime holds at one moment (Runtime.stats), and the work it has done so far: in a long run
 * the holdings stay flat and the work per step stays the same.
 */
export interface RuntimeStats {
  /** Buffers and bytes of live tensors made here (parameters, activations, scratches). */
  tensors: number;
  tensorBytes: number;
  /** Readback staging buffers not yet destroyed (0 between reads). */
  staging: number;
  /** The uniform pool: one buffer of fixed size, made once. */
  uniformBytes: number;
  /** Compiled pipelines cached by kernel name, constants and shader text. */
  pipelines: number;
  /** Bind groups cached for reuse (at most 64 per pipeline; those of destroyed tensors dropped). */
  bindGroups: number;
  /** Named work tensors kept for reuse (runtime.scratch). */
  scratches: number;
  /** Error-scope results not yet collected by sync(), and tensors released in a batch not yet destroyed. */
  pendingErrors: number;
  pendingReleases: number;
  /** Totals since the runtime was made: dispatches recorded, tensors read back. */
  dispatches: number;
  reads: number;
}

/**
 * What a guard zone holds: a quiet NaN with a payload, so a float read from it poisons what it
 * touches, and an unlikely value for a kernel to write by chance.
 */
export const GUARD_WORD = 0x7fc00bad;

export interface RuntimeOptions {
  /**
   * Put a guard zone (the adapter's minStorageBufferOffsetAlignment bytes, filled with GUARD_WORD)
   * before and after every tensor made by this runtime, for checkGuards to find writes outside a
   * tensor and for reads outside it to show up as NaN (for tests; without robustness checks, see
   * src/device/node.ts, kernels reach past their bindings' ends instead of being clamped).
   */
  guard?: boolean;
}

export class Runtime {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  readonly report: AdapterReport;
  readonly limits: GPUSupportedLimits;
  private readonly pipelines = new Map<string, CachedPipeline>();
  /** The same pipelines by spec object and constants in the order given (pipelineFor's fast path). */
  private readonly pipelinesBySpec = new WeakMap<KernelSpec, Map<string, CachedPipeline>>();
  private pending: Promise<KernelError | undefined>[] = [];
  private uniforms: GPUBuffer;
  private uniformSlot = 0;
  /**
   * Inside a batch, the parameters of its dispatches are packed here and written to `uniforms` in
   * one call before the batch is submitted (the `staged` slots before `uniformSlot`, wrapping).
   */
  private readonly uniformStage = new ArrayBuffer(UNIFORM_SLOT_BYTES * UNIFORM_SLOTS);
  private staged = 0;
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 0;
  /** By buffer id: the pipelines' bind-group caches that hold a bind group of that buffer. */
  private readonly cachesOfBuffer = new Map<number, Set<Map<string, CachedBindGroup>>>();
  private lostReason: string | undefined;
  private batchState:
    | { label: string; encoder: GPUCommandEncoder; pass: GPUComputePassEncoder; names: string[]; timed: boolean }
    | undefined;
  private readonly released: Tensor[] = [];
  private readonly scratches = new Map<string, Tensor>();
  /** Bytes and buffers held by live tensors made here (staging and uniform buffers excluded). */
  bytesAllocated = 0;
  buffersAllocated = 0;
  private profiler: { querySet: GPUQuerySet; capacity: number; names: string[] } | undefined;
  /** Guard zones' bytes on each side of every tensor made here (0: none; see RuntimeOptions.guard). */
  private readonly guardBytes: number;
  /** Live tensors with guard zones, by buffer: what to check and what to call them. */
  private readonly guarded = new Map<GPUBuffer, { label: string; bytes: number }>();
  private tensorCount = 0;
  private stagingAlive = 0;
  private dispatchCount = 0;
  private readCount = 0;

  constructor(acquired: AcquiredDevice, options: RuntimeOptions = {}) {
    this.device = acquired.device;
    this.adapter = acquired.adapter;
    this.report = acquired.report;
    this.limits = acquired.device.limits;
    this.uniforms = this.device.createBuffer({
      label: 'runtime.uniforms',
      size: UNIFORM_SLOT_BYTES * UNIFORM_SLOTS,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.device.lost.then((info) => {
      this.lostReason = `${info.reason}: ${info.message}`;
    });
    this.guardBytes = options.guard ? this.limits.minStorageBufferOffsetAlignment : 0;
  }

  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    return new Runtime(await acquireDevice(), options);
  }

  get isLost(): boolean {
    return this.lostReason !== undefined;
  }

  private assertAlive(): void {
    if (this.lostReason !== undefined) throw new DeviceLostError(`GPU device lost (${this.lostReason})`);
  }

  /** Throws a LimitError if a buffer of this many bytes cannot be bound as storage here. */
  checkBufferSize(bytes: number, what: string): void {
    const { maxBufferSize, maxStorageBufferBindingSize } = this.limits;
    if (bytes > maxStorageBufferBindingSize) {
      throw new LimitError(
        `${what} needs ${bytes} bytes, above this adapter's maxStorageBufferBindingSize (${maxStorageBufferBindingSize} bytes); ` +
          `the largest f32 tensor allowed here has ${Math.floor(maxStorageBufferBindingSize / 4)} elements`,
      );
    }
    if (bytes > maxBufferSize) {
      throw new LimitError(`${what} needs ${bytes} bytes, above this adapter's maxBufferSize (${maxBufferSize} bytes)`);
    }
  }

  private createTensor(shape: Shape, dtype: DType, label: string | undefined): Tensor {
    this.assertAlive();
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 1) {
        throw new ShapeError(`tensor ${label ?? ''} shape ${shapeString(shape)}: every dimension must be an integer >= 1`);
      }
    }
    const name = label ?? `tensor${this.tensorCount}`;
    this.tensorCount++;
    const bytes = numel(shape) * 4;
    this.checkBufferSize(bytes, `tensor ${name}${shapeString(shape)}`);
    const allocated = Math.max(4, bytes);
    const g = this.guardBytes;
    const buffer = this.device.createBuffer({
      label: name,
      size: allocated + 2 * g,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    if (g > 0) {
      const zone = new Uint32Array(g / 4).fill(GUARD_WORD);
      this.device.queue.writeBuffer(buffer, 0, zone);
      this.device.queue.writeBuffer(buffer, g + allocated, zone);
      this.guarded.set(buffer, { label: `${name}${shapeString(shape)}`, bytes: allocated });
    }
    this.bytesAllocated += allocated;
    this.buffersAllocated += 1;
    return new Tensor(buffer, [...shape], dtype, name, g, false, () => {
      this.bytesAllocated -= allocated;
      this.buffersAllocated -= 1;
      this.guarded.delete(buffer);
      this.forgetBuffer(buffer);
    });
  }

  /**
   * With guard zones (RuntimeOptions.guard): every live tensor whose zones a kernel wrote, named
   * with the first changed word on each side; empty when none was touched. Waits for the work
   * queued so far.
   */
  async checkGuards(): Promise<string[]> {
    const g = this.guardBytes;
    if (g === 0) throw new Error('checkGuards: this runtime was made without guard zones (Runtime.create({ guard: true }))');
    await this.sync();
    const live = [...this.guarded.entries()];
    const staging = this.device.createBuffer({
      size: Math.max(4, live.length * 2 * g),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      const enc = this.device.createCommandEncoder({ label: 'guards.readback' });
      live.forEach(([buffer, { bytes }], i) => {
        enc.copyBufferToBuffer(buffer, 0, staging, 2 * i * g, g);
        enc.copyBufferToBuffer(buffer, g + bytes, staging, (2 * i + 1) * g, g);
      });
      this.device.queue.submit([enc.finish()]);
      await this.sync();
      await staging.mapAsync(GPUMapMode.READ);
      const words = new Uint32Array(staging.getMappedRange().slice(0));
      staging.unmap();
      const found: string[] = [];
      const per = g / 4;
      live.forEach(([, { label }], i) => {
        const sides: string[] = [];
        for (const [side, start] of [
          ['before its start', 2 * i * per],
          ['after its end', (2 * i + 1) * per],
        ] as const) {
          // Words in order of their distance from the tensor: a zone before it is read backwards.
          const zone = words.slice(start, start + per);
          if (side === 'before its start') zone.reverse();
          const changed = zone.reduce((n, w) => n + Number(w !== GUARD_WORD), 0);
          if (changed === 0) continue;
          const at = zone.findIndex((w) => w !== GUARD_WORD);
          sides.push(`${changed} word(s) ${side} changed (nearest ${at} word(s) away, 0x${zone[at].toString(16)})`);
        }
        if (sides.length) found.push(`${label}: ${sides.join('; ')}`);
      });
      return found;
    } finally {
      staging.destroy();
    }
  }

  /** A zero-filled tensor. */
  empty(shape: Shape, dtype: DType = 'f32', label?: string): Tensor {
    return this.createTensor(shape, dtype, label);
  }

  /** A tensor holding `data` (length must equal the shape's element count). */
  tensor(data: ArrayLike<number>, shape: Shape, dtype: DType = 'f32', label?: string): Tensor {
    const t = this.createTensor(shape, dtype, label);
    if (data.length !== t.size) {
      t.destroy();
      throw new ShapeError(`tensor ${t.label}: data has ${data.length} values but shape ${shapeString(shape)} holds ${t.size}`);
    }
    const typed = dtype === 'f32' ? Float32Array.from(data) : Uint32Array.from(data);
    this.device.queue.writeBuffer(t.buffer, t.offset, typed);
    return t;
  }

  write(t: Tensor, data: ArrayLike<number>): void {
    if (data.length !== t.size) throw new ShapeError(`write to ${t}: data has ${data.length} values, expected ${t.size}`);
    const typed = t.dtype === 'f32' ? Float32Array.from(data) : Uint32Array.from(data);
    this.device.queue.writeBuffer(t.buffer, t.offset, typed);
  }

  /**
   * A view of `parent`'s elements [elementOffset, elementOffset + numel(shape)), bound by kernels as a
   * tensor of its own. The byte offset must be a multiple of the adapter's
   * minStorageBufferOffsetAlignment (256 bytes = 64 f32 on most adapters); see Arena for packing.
   * WebGPU forbids binding one buffer for reading and for writing in the same dispatch, even in
   * disjoint ranges, so a kernel may not read one view of a buffer while writing another.
   */
  view(parent: Tensor, elementOffset: number, shape: Shape, label?: string): Tensor {
    const name = label ?? `${parent.label}[${elementOffset}:]`;
    const n = numel(shape);
    if (!Number.isInteger(elementOffset) || elementOffset < 0 || elementOffset + n > parent.size) {
      throw new ShapeError(
        `view ${name}${shapeString(shape)} at element ${elementOffset} does not fit in ${parent} (${parent.size} elements)`,
      );
    }
    const offset = parent.offset + elementOffset * 4;
    const align = this.limits.minStorageBufferOffsetAlignment;
    if (offset % align !== 0) {
      throw new LimitError(
        `view ${name} starts at byte ${offset}, not a multiple of this adapter's minStorageBufferOffsetAlignment (${align} bytes)`,
      );
    }
    return new Tensor(parent.buffer, [...shape], parent.dtype, name, offset, true);
  }

  /** Copy a tensor back to the CPU (waits for all work queued before it; rethrows kernel errors). */
  async read(t: Tensor): Promise<Float32Array | Uint32Array> {
    this.assertAlive();
    if (this.batchState) throw new Error(`read(${t.label}) inside batch ${this.batchState.label}: read after the batch ends`);
    const staging = this.device.createBuffer({
      label: `${t.label}.readback`,
      size: Math.max(4, t.byteLength),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.stagingAlive++;
    this.readCount++;
    const enc = this.device.createCommandEncoder({ label: `${t.label}.readback` });
    enc.copyBufferToBuffer(t.buffer, t.offset, staging, 0, Math.max(4, t.byteLength));
    this.device.queue.submit([enc.finish()]);
    try {
      await this.sync();
      await staging.mapAsync(GPUMapMode.READ);
      const bytes = staging.getMappedRange().slice(0, t.byteLength);
      staging.unmap();
      return t.dtype === 'f32' ? new Float32Array(bytes) : new Uint32Array(bytes);
    } finally {
      staging.destroy();
      this.stagingAlive--;
    }
  }

  /** What this runtime holds now and the work it has done (for soak tests and leak hunting); reads nothing from the GPU. */
  stats(): RuntimeStats {
    return {
      tensors: this.buffersAllocated,
      tensorBytes: this.bytesAllocated,
      staging: this.stagingAlive,
      uniformBytes: this.uniforms.size,
      pipelines: this.pipelines.size,
      bindGroups: [...this.pipelines.values()].reduce((n, p) => n + p.groups.size, 0),
      scratches: this.scratches.size,
      pendingErrors: this.pending.length,
      pendingReleases: this.released.length,
      dispatches: this.dispatchCount,
      reads: this.readCount,
    };
  }

  async readF32(t: Tensor): Promise<Float32Array> {
    const out = await this.read(t);
    return out instanceof Float32Array ? out : new Float32Array(out);
  }

  private pipelineFor(spec: KernelSpec, constants: Record<string, number>): CachedPipeline {
    // Fast path: this spec with constants given in the same order before (no sorting, one lookup).
    let bySpec = this.pipelinesBySpec.get(spec);
    if (!bySpec) {
      bySpec = new Map();
      this.pipelinesBySpec.set(spec, bySpec);
    }
    let fastKey = '';
    for (const k in constants) fastKey += `${k}=${constants[k]},`;
    const known = bySpec.get(fastKey);
    if (known) return known;
    const made = this.makePipeline(spec, constants);
    bySpec.set(fastKey, made);
    return made;
  }

  private makePipeline(spec: KernelSpec, constants: Record<string, number>): CachedPipeline {
    const all: Record<string, number> = {
      WG_X: spec.workgroupSize[0],
      WG_Y: spec.workgroupSize[1],
      WG_Z: spec.workgroupSize[2],
      ...constants,
    };
    // The shader's text is part of the key: specs of one name may differ in it (matmul binds large
    // operands as arrays of their exact sizes, one text per size).
    const key = `${spec.name}|${spec.entryPoint ?? 'main'}|${Object.keys(all)
      .sort()
      .map((k) => `${k}=${all[k]}`)
      .join(',')}|${spec.shader}`;
    let cached = this.pipelines.get(key);
    if (cached) return cached;
    const label = `${spec.name}${Object.keys(constants).length ? JSON.stringify(constants) : ''}`;
    const layout = this.device.createBindGroupLayout({
      label: `${label}.layout`,
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } },
        ...spec.bindings.map((b, i) => ({
          binding: i + 1,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: b.access === 'read' ? ('read-only-storage' as const) : ('storage' as const) },
        })),
      ],
    });
    const module = this.device.createShaderModule({ label: `${spec.name}.wgsl`, code: spec.shader });
    const pipeline = this.device.createComputePipeline({
      label,
      layout: this.device.createPipelineLayout({ label: `${label}.pipeline-layout`, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: spec.entryPoint ?? 'main', constants: all },
    });
    cached = { pipeline, layout, groups: new Map() };
    this.pipelines.set(key, cached);
    return cached;
  }

  /**
   * Encode and submit one dispatch of `spec`. GPU errors are captured in error scopes and reported
   * by the next sync()/read() with this kernel's name and `shapes`.
   */
  dispatch<P extends string>(
    spec: KernelSpec<P>,
    call: {
      params: Readonly<Record<P, number>>;
      tensors: Readonly<Record<string, Tensor>>;
      constants?: Record<string, number>;
      shapes: string;
    },
  ): void {
    this.assertAlive();
    const groups = spec.dispatch(call.params);
    const maxGroups = this.limits.maxComputeWorkgroupsPerDimension;
    for (const g of groups) {
      if (g > maxGroups) {
        throw new LimitError(
          `kernel ${spec.name} (${call.shapes}) needs ${g} workgroups in one dimension, above this adapter's maxComputeWorkgroupsPerDimension (${maxGroups})`,
        );
      }
    }
    if (groups.some((g) => g === 0)) return;
    const { device } = this;
    const batch = this.batchState;
    if (batch && batch.names.length >= UNIFORM_SLOTS) {
      // Each dispatch of a submission needs its own uniform slot until the submission runs.
      this.flushBatch();
      this.beginBatch(batch.label);
    }
    // The parameters first (a missing one throws before anything is recorded): into the batch's
    // staging area, or a slot of their own written below.
    const slot = this.uniformSlot;
    const params = packParams(
      spec.params,
      call.params,
      this.batchState
        ? new DataView(this.uniformStage, slot * UNIFORM_SLOT_BYTES, UNIFORM_SLOT_BYTES)
        : new DataView(new ArrayBuffer(UNIFORM_SLOT_BYTES)),
    );
    if (!this.batchState) this.pushScopes();
    const cached = this.pipelineFor(spec as KernelSpec, call.constants ?? {});
    const { pipeline } = cached;
    const bindGroup = this.bindGroupFor(spec as KernelSpec, cached, call.tensors);
    this.dispatchCount++;
    this.uniformSlot = (this.uniformSlot + 1) % UNIFORM_SLOTS;
    const offsets = [slot * UNIFORM_SLOT_BYTES];
    if (this.batchState) {
      this.staged++;
      const { pass, names } = this.batchState;
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup, offsets);
      pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
      names.push(`${spec.name} (${call.shapes})`);
      return;
    }
    const encoder = device.createCommandEncoder({ label: spec.name });
    const prof = this.profiler;
    const timestampWrites =
      prof && prof.names.length < prof.capacity
        ? {
            querySet: prof.querySet,
            beginningOfPassWriteIndex: 2 * prof.names.length,
            endOfPassWriteIndex: 2 * prof.names.length + 1,
          }
        : undefined;
    if (timestampWrites) prof?.names.push(`${spec.name} (${call.shapes})`);
    device.queue.writeBuffer(this.uniforms, slot * UNIFORM_SLOT_BYTES, params.buffer);
    const pass = encoder.beginComputePass({ label: spec.name, timestampWrites });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup, offsets);
    pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    pass.end();
    device.queue.submit([encoder.finish()]);
    this.popScopes(spec.name, call.shapes);
  }

  /** The bind group of `tensors` for a pipeline: made once per set of tensors, then reused. */
  private bindGroupFor(spec: KernelSpec, cached: CachedPipeline, tensors: Readonly<Record<string, Tensor>>): GPUBindGroup {
    let key = '';
    const buffers: number[] = [];
    for (const b of spec.bindings) {
      const t = tensors[b.name];
      if (!t) throw new Error(`kernel ${spec.name}: binding ${b.name} was not given a tensor`);
      let id = this.bufferIds.get(t.buffer);
      if (id === undefined) {
        id = this.nextBufferId++;
        this.bufferIds.set(t.buffer, id);
      }
      buffers.push(id);
      key += `${id}:${t.offset}:${t.byteLength},`;
    }
    const { groups } = cached;
    const hit = groups.get(key);
    if (hit) {
      groups.delete(key);
      groups.set(key, hit);
      return hit.group;
    }
    const group = this.device.createBindGroup({
      label: `${spec.name}.bindings`,
      layout: cached.layout,
      entries: [
        { binding: 0, resource: { buffer: this.uniforms, offset: 0, size: UNIFORM_SLOT_BYTES } },
        ...spec.bindings.map((b, i) => {
          const t = tensors[b.name];
          return { binding: i + 1, resource: { buffer: t.buffer, offset: t.offset, size: Math.max(4, t.byteLength) } };
        }),
      ],
    });
    groups.set(key, { group, buffers });
    for (const id of buffers) {
      let caches = this.cachesOfBuffer.get(id);
      if (!caches) {
        caches = new Set();
        this.cachesOfBuffer.set(id, caches);
      }
      caches.add(groups);
    }
    if (groups.size > BIND_GROUPS_PER_PIPELINE) groups.delete(groups.keys().next().value as string);
    return group;
  }

  /** Drop the cached bind groups that bind `buffer` (destroyed: they could never be used again). */
  private forgetBuffer(buffer: GPUBuffer): void {
    const id = this.bufferIds.get(buffer);
    if (id === undefined) return;
    for (const groups of this.cachesOfBuffer.get(id) ?? [])
      for (const [key, g] of groups) if (g.buffers.includes(id)) groups.delete(key);
    this.cachesOfBuffer.delete(id);
  }

  /** Write the parameters staged by the current batch's dispatches to the uniform buffer. */
  private writeStaged(): void {
    if (this.staged === 0) return;
    const from = (this.uniformSlot - this.staged + UNIFORM_SLOTS) % UNIFORM_SLOTS;
    const first = Math.min(this.staged, UNIFORM_SLOTS - from);
    this.device.queue.writeBuffer(
      this.uniforms,
      from * UNIFORM_SLOT_BYTES,
      this.uniformStage,
      from * UNIFORM_SLOT_BYTES,
      first * UNIFORM_SLOT_BYTES,
    );
    if (this.staged > first)
      this.device.queue.writeBuffer(this.uniforms, 0, this.uniformStage, 0, (this.staged - first) * UNIFORM_SLOT_BYTES);
    this.staged = 0;
  }

  private pushScopes(): void {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('internal');
    this.device.pushErrorScope('validation');
  }

  private popScopes(kernel: string, shapes: string): void {
    const { device } = this;
    const scopes = [device.popErrorScope(), device.popErrorScope(), device.popErrorScope()];
    const kinds = ['validation', 'internal', 'out-of-memory'];
    this.pending.push(
      Promise.all(scopes).then((errors) => {
        const i = errors.findIndex((e) => e);
        return i < 0 ? undefined : new KernelError(kernel, shapes, kinds[i], errors[i]?.message ?? '');
      }),
    );
  }

  /**
   * Run `fn` with every dispatch it makes recorded into one compute pass and submitted once at the
   * end (a training step: hundreds of dispatches, one submission). Shapes are still checked before
   * each dispatch is recorded; a GPU error inside the batch is reported with the batch's label and
   * the kernels it held (run without batching to pin it to one kernel). Tensors released with
   * `release` inside the batch are destroyed after the submission.
   */
  batch<T>(label: string, fn: () => T): T {
    if (this.batchState) return fn(); // already inside a batch: join it
    this.beginBatch(label);
    try {
      return fn();
    } finally {
      this.flushBatch();
    }
  }

  private beginBatch(label: string): void {
    this.assertAlive();
    const encoder = this.device.createCommandEncoder({ label });
    this.pushScopes();
    // Profiling: the batch's one compute pass is timed as a whole (its dispatches are not timed one by one).
    const prof = this.profiler;
    const timed = !!prof && prof.names.length < prof.capacity;
    const timestampWrites =
      prof && timed
        ? {
            querySet: prof.querySet,
            beginningOfPassWriteIndex: 2 * prof.names.length,
            endOfPassWriteIndex: 2 * prof.names.length + 1,
          }
        : undefined;
    if (timed) prof?.names.push(`batch ${label}`);
    this.batchState = { label, encoder, pass: encoder.beginComputePass({ label, timestampWrites }), names: [], timed };
  }

  private flushBatch(): void {
    const b = this.batchState;
    if (!b) return;
    this.batchState = undefined;
    b.pass.end();
    this.writeStaged();
    if (b.names.length > 0 || b.timed) this.device.queue.submit([b.encoder.finish()]);
    const shown = b.names.slice(0, 6).join('; ');
    this.popScopes(b.label, `${b.names.length} dispatches: ${shown}${b.names.length > 6 ? '; ...' : ''}`);
    for (const t of this.released.splice(0)) t.destroy();
  }

  /**
   * Start timing every dispatch with GPU timestamps (adapters with 'timestamp-query'; a batch is
   * timed as a whole, as one entry named `batch LABEL`). `endProfile` returns each entry's GPU time
   * in milliseconds. At most `capacity` entries (at most 2048: a query set holds 4096 timestamps);
   * later dispatches are not timed.
   */
  startProfile(capacity = 1024): boolean {
    if (!this.device.features.has('timestamp-query')) return false;
    capacity = Math.max(1, Math.min(2048, Math.floor(capacity)));
    const querySet = this.device.createQuerySet({ label: 'profile', type: 'timestamp', count: 2 * capacity });
    this.profiler = { querySet, capacity, names: [] };
    return true;
  }

  async endProfile(): Promise<{ name: string; ms: number }[]> {
    const prof = this.profiler;
    if (!prof) return [];
    this.profiler = undefined;
    const n = prof.names.length;
    const bytes = Math.max(16, 2 * n * 8);
    const resolve = this.device.createBuffer({
      label: 'profile.resolve',
      size: bytes,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const read = this.device.createBuffer({
      label: 'profile.read',
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder({ label: 'profile' });
    if (n > 0) enc.resolveQuerySet(prof.querySet, 0, 2 * n, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    await this.sync();
    await read.mapAsync(GPUMapMode.READ);
    const ticks = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    for (const b of [resolve, read]) b.destroy();
    prof.querySet.destroy();
    return prof.names.map((name, i) => ({ name, ms: Number(ticks[2 * i + 1] - ticks[2 * i]) / 1e6 }));
  }

  /**
   * A work tensor named `name` with at least `elements` f32 elements, kept by the runtime and reused
   * by every caller of the same name (dispatches run in order, so reuse between kernels is safe; a
   * kernel must not bind the same scratch for reading and writing). Grown when too small.
   */
  scratch(name: string, elements: number, dtype: DType = 'f32'): Tensor {
    const cur = this.scratches.get(name);
    if (cur && cur.size >= elements && cur.dtype === dtype) return cur;
    if (cur) this.release(cur);
    const t = this.createTensor([Math.max(elements, cur ? cur.size * 2 : 0)], dtype, `scratch.${name}`);
    this.scratches.set(name, t);
    return t;
  }

  /** Destroy a temporary tensor once the work queued so far no longer needs it. */
  release(t: Tensor): void {
    if (this.batchState) this.released.push(t);
    else t.destroy();
  }

  /** Wait for all submitted work; throw the first GPU error any kernel raised since the last sync. */
  async sync(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    const errors = await Promise.all(pending);
    await this.device.queue.onSubmittedWorkDone();
    this.assertAlive();
    const first = errors.find((e) => e);
    if (first) throw first;
  }

  destroy(): void {
    this.uniforms.destroy();
    this.device.destroy();
  }
}

function packParams(
  fields: readonly (readonly [string, ParamType])[],
  values: Readonly<Record<string, number>>,
  view: DataView,
): DataView {
  if (fields.length * 4 > view.byteLength)
    throw new Error(`${fields.length} parameters do not fit a ${view.byteLength}-byte slot`);
  for (let i = 0; i < fields.length; i++) {
    const [name, type] = fields[i];
    const v = values[name];
    if (v === undefined || Number.isNaN(v)) throw new Error(`parameter ${name} is missing`);
    if (type === 'f32') view.setFloat32(i * 4, v, true);
    else if (type === 'u32') view.setUint32(i * 4, v, true);
    else view.setInt32(i * 4, v, true);
  }
  return view;
}

/**
 * Whether `e` comes from a lost device: a DeviceLostError, or whatever the failed call raised first
 * (a rejected readback) on a device now lost. Waits one task so the device's lost promise, which
 * marks the runtime, has settled.
 */
export async function isDeviceLoss(e: unknown, rt: Runtime | undefined): Promise<boolean> {
  await new Promise((r) => setTimeout(r, 0));
  return e instanceof DeviceLostError || rt?.isLost === true;
}
