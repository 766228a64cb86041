/**
 * Where checkpoints live. In the browser: IndexedDB (a put is atomic: a reader sees the old bytes or
 * the new ones, never half of them), so a run survives a page reload. In Node the command line
 * writes files atomically (src/cli/run.ts). Both hold the bytes of encodeCheckpoint, checksum included.
 */
export interface CheckpointStore {
  save(key: string, bytes: Uint8Array): Promise<void>;
  /** The bytes saved under key, or undefined. */
  load(key: string): Promise<Uint8Array | undefined>;
  remove(key: string): Promise<void>;
}

const STORE = 'checkpoints';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

/** A checkpoint store in this browser's IndexedDB (database `name`). */
export async function indexedDbStore(name = 'webgpu-train'): Promise<CheckpointStore> {
  if (typeof indexedDB === 'undefined') throw new Error('IndexedDB is not available here (checkpoints in the browser need it)');
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  const db = await request(open);
  const tx = async <T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
    const t = db.transaction(STORE, mode);
    const result = request(fn(t.objectStore(STORE)));
    await new Promise<void>((resolve, reject) => {
      t.oncomplete = () => resolve();
      t.onerror = () => reject(t.error ?? new Error('IndexedDB transaction failed'));
      t.onabort = () => reject(t.error ?? new Error('IndexedDB transaction aborted'));
    });
    return result;
  };
  return {
    save: async (key, bytes) => {
      await tx('readwrite', (s) => s.put(bytes.slice(), key));
    },
    load: async (key) => {
      const v = await tx('readonly', (s) => s.get(key));
      return v === undefined ? undefined : new Uint8Array(v as ArrayBuffer | Uint8Array);
    },
    remove: async (key) => {
      await tx('readwrite', (s) => s.delete(key));
    },
  };
}
