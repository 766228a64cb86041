/**
 * Where checkpoints live. In the browser: IndexedDB (a put is atomic: a reader sees the old bytes or
 * the new ones, never half of them), so a run survives a page reload. In Node the command line
 * writes files atomically (src/cli/run.ts). Both hold the bytes of encodeCheckpoint, checksum included.
 */
export interface CheckpointStore {
  save(key: string, bytes: Uint8Array): Promise<void>;
  /** Save several entries at once: a reader sees all of them new, or all of them old. */
  saveMany(entries: Record<string, Uint8Array>): Promise<void>;
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
    saveMany: async (entries) => {
      const list = Object.entries(entries);
      if (list.length === 0) return;
      // One transaction: IndexedDB commits every put of it or none.
      await tx('readwrite', (s) => {
        let last: IDBRequest | undefined;
        for (const [key, bytes] of list) last = s.put(bytes.slice(), key);
        return last as IDBRequest;
      });
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

/** A store in memory (Node, tests): the same interface, gone with the process. */
export function memoryStore(): CheckpointStore {
  const map = new Map<string, Uint8Array>();
  return {
    save: async (key, bytes) => {
      map.set(key, bytes.slice());
    },
    saveMany: async (entries) => {
      for (const [key, bytes] of Object.entries(entries)) map.set(key, bytes.slice());
    },
    load: async (key) => map.get(key)?.slice(),
    remove: async (key) => {
      map.delete(key);
    },
  };
}
