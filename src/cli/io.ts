/** File helpers for the command line: read JSON with clear errors, write atomically. */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../device/errors.ts';

export function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`${what} ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The ending of the temporary files writeFileAtomic writes beside their target (".NAME.PID.tmp"). */
export const TEMP_SUFFIX = '.tmp';

/**
 * Write a file so that it is either the old file or the whole new one, never half written: a
 * temporary file beside it, fsync, rename over the target, then fsync the folder so the rename
 * itself survives a crash. `halfway` (tests) is called once half the bytes are written.
 */
export function writeFileAtomic(path: string, text: string | Uint8Array, halfway?: () => void): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}${TEMP_SUFFIX}`);
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    const half = Math.floor(bytes.length / 2);
    writeSync(fd, bytes, 0, half);
    halfway?.();
    writeSync(fd, bytes, half, bytes.length - half);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
    syncFolder(dirname(path));
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean
    }
    throw new UserError(`cannot write ${path}: ${(e as Error).message}`);
  }
}

/** fsync a folder (its entries: a rename); skipped where a folder cannot be opened (Windows). */
function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // The rename is still atomic there; only its durability across a power cut is not ensured.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
