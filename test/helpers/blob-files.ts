import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A Float64Array of `length` distinct, non-trivial values (not all zero: a zero-filled read must not pass). */
export function field(length: number, seed: number): Float64Array {
  const array = new Float64Array(length);
  for (let index = 0; index < length; index++) array[index] = Math.sin(index * 0.001 + seed) * 1e6 + index;
  return array;
}

/** The bytes of a typed array, for Buffer.compare: toEqual walks big arrays element by element, slowly. */
export const bytesOf = (array: ArrayBufferView): Buffer => Buffer.from(array.buffer, array.byteOffset, array.byteLength);

/** The unfinished writes in the blob directory of the embedded store at `path`. */
export function unfinished(path: string): string[] {
  const dir = join(path, 'blobs', 'tmp');
  return existsSync(dir) ? readdirSync(dir).map((name) => join(dir, name)) : [];
}

/** The named blobs of the embedded store at `path`, as paths. */
export function named(path: string): string[] {
  const dir = join(path, 'blobs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((folder) => /^[0-9a-f]{2}$/.test(folder))
    .flatMap((folder) => readdirSync(join(dir, folder)).map((name) => join(dir, folder, name)));
}

/**
 * The unfinished writes left once those being abandoned are gone (an abandon
 * waits for its writes and datasyncs, then removes the file). Bounded by a
 * number of turns, not asserted on time: a write never abandoned stays.
 */
export async function unfinishedSettled(path: string): Promise<string[]> {
  for (let tries = 0; tries < 300 && unfinished(path).length > 0; tries++) await new Promise((resolve) => setTimeout(resolve, 10));
  return unfinished(path);
}

/** Waits until every write handed to the thread pool has landed (the unfinished file has its full size). */
export async function landed(file: string, bytes: number): Promise<void> {
  for (let tries = 0; statSync(file).size < bytes; tries++) {
    if (tries > 500) throw new Error(`${file} never reached ${bytes} bytes`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
