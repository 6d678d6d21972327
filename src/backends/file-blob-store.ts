import { createHash, randomUUID } from 'node:crypto';
import { closeSync, fdatasync as fdatasyncFd, mkdirSync, openSync, write as writeFd } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { isBlobId, type BlobInfo, type BlobReader, type BlobStore, type BlobWriteOptions, type ListedBlob, type PendingBlob } from '../contract/blob-store.js';
import { MemostrataError } from '../errors.js';

/** The folder of unfinished writes inside a blob directory. */
const TEMPORARY = 'tmp';
/** The name of an unfinished write: it never looks like a blob id. */
const TEMPORARY_NAME = /^[0-9a-f-]{36}\.part$/;

/**
 * Blobs as files: `<dir>/<first two hex of id>/<id>`, beside an embedded
 * store (its `blobs` folder) or in a directory every worker mounts.
 *
 * A blob is written to `<dir>/tmp/<random>.part`, fsynced, renamed to its
 * name and its folder fsynced, all before `write` resolves: whatever moment
 * the process dies at, a name holds a whole blob, and what is left in `tmp`
 * is garbage that {@link FileBlobStore.list} reports as unfinished.
 */
export class FileBlobStore implements BlobStore {
  /** The blob directory. */
  readonly location: string;

  constructor(dir: string) {
    this.location = dir;
  }

  async write(parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options: BlobWriteOptions = {}): Promise<BlobInfo> {
    const temporary = this.#temporaryPath();
    const hash = options.name === undefined ? createHash('sha256') : undefined;
    let bytes = 0;
    let file: FileHandle;
    try {
      await mkdir(join(this.location, TEMPORARY), { recursive: true });
      file = await open(temporary, 'wx', 0o644);
    } catch (error) {
      throw blobError(this.location, 'write', error);
    }
    const flushing = new EarlyFlush(file);
    try {
      let pending: Promise<void> = Promise.resolve();
      // Each part is written while the next is produced (and this one hashed): the disk and the CPU work at once.
      for await (const part of parts) {
        await pending;
        flushing.after(bytes);
        pending = writeAll(file, part, bytes);
        pending.catch(() => undefined);
        hash?.update(part);
        bytes += part.byteLength;
      }
      await pending;
    } catch (error) {
      await file.close().catch(() => undefined);
      await rm(temporary, { force: true }).catch(() => undefined);
      throw blobError(this.location, 'write', error);
    }
    return publish(this.location, temporary, bytes, () => flushing.finish(), options.name ?? (() => hash!.digest('hex')), options.written, file);
  }

  begin(parts: Iterable<Uint8Array>): PendingBlob | undefined {
    // Each started write holds a descriptor until its bytes are durable: past the bound, results go the usual way.
    if (startedOpen >= STARTED_OPEN_MAX) return undefined;
    const temporary = this.#temporaryPath();
    let fd: number;
    try {
      // Synchronous, so that every part is with the thread pool before this returns (and the caller starts hashing).
      mkdirSync(join(this.location, TEMPORARY), { recursive: true });
      fd = openSync(temporary, 'wx', 0o644);
    } catch {
      return undefined;
    }
    startedOpen += 1;
    const close = (): void => {
      closeSync(fd);
      startedOpen -= 1;
    };
    const chunks: Chunk[] = [];
    let bytes = 0;
    try {
      for (const part of parts) {
        for (let start = 0; start < part.byteLength; start += WRITE_CHUNK_BYTES) chunks.push({ bytes: part.subarray(start, start + WRITE_CHUNK_BYTES), position: bytes + start });
        bytes += part.byteLength;
      }
    } catch (error) {
      // A part that could not be produced: nothing was written yet.
      close();
      void rm(temporary, { force: true });
      throw error;
    }
    // Once the last write is queued, a first datasync queued behind it starts the disk as soon as the pool gets
    // there, without waiting for this thread (busy hashing) to see the writes done. It may miss the last writes: a
    // second one follows them. Its failure fails the write: after a failed sync Linux may report the next one as a
    // success though pages were lost.
    let early: Promise<{ error: unknown } | undefined> | undefined;
    const writing = writeChunks(fd, chunks, () => {
      early = datasync(fd).then(
        () => undefined,
        (error: unknown) => ({ error }),
      );
    });
    const written = writing.done;
    const synced = written
      .then(() => Promise.all([datasync(fd), early]))
      .then(([, failed]) => {
        if (failed !== undefined) throw failed.error;
      })
      // Closed once nothing in the pool uses it any more: a number closed early may name another file by then.
      .finally(() => written.then(noop, noop).then(() => early).then(close));
    written.catch(noop);
    synced.catch(noop);
    return new PendingFileBlob(this.location, temporary, bytes, written, synced, writing.stop);
  }

  async open(id: string): Promise<BlobReader | undefined> {
    if (!isBlobId(id)) throw new MemostrataError('INVALID_ARGUMENT', `${JSON.stringify(id)} is not a blob id (64 lowercase hex characters).`);
    let file: FileHandle;
    try {
      file = await open(this.#path(id), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw blobError(this.location, 'read', error);
    }
    try {
      return new FileBlobReader(file, (await file.stat()).size, id);
    } catch (error) {
      await file.close();
      throw blobError(this.location, 'read', error);
    }
  }

  async delete(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const path = isBlobId(id) ? this.#path(id) : TEMPORARY_NAME.test(id) ? join(this.location, TEMPORARY, id) : undefined;
      if (path === undefined) throw new MemostrataError('INVALID_ARGUMENT', `${JSON.stringify(id)} names no blob.`);
      try {
        await rm(path, { force: true });
      } catch (error) {
        throw blobError(this.location, 'delete', error);
      }
    }
  }

  async *list(): AsyncGenerator<ListedBlob> {
    for (const folder of await entriesOf(this.location)) {
      if (folder === TEMPORARY) {
        for (const name of await entriesOf(join(this.location, TEMPORARY))) {
          const listed = TEMPORARY_NAME.test(name) ? await this.#listed(join(this.location, TEMPORARY, name), name) : undefined;
          if (listed !== undefined) yield { ...listed, complete: false };
        }
      } else if (/^[0-9a-f]{2}$/.test(folder)) {
        for (const name of await entriesOf(join(this.location, folder))) {
          const listed = isBlobId(name) && name.startsWith(folder) ? await this.#listed(join(this.location, folder, name), name) : undefined;
          if (listed !== undefined) yield { ...listed, complete: true };
        }
      }
    }
  }

  /** What `path` is, or `undefined` when it went between the listing and now (a write renamed it, a delete removed it). */
  async #listed(path: string, id: string): Promise<Omit<ListedBlob, 'complete'> | undefined> {
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return { id, bytes: info.size, modifiedMs: info.mtimeMs };
  }

  #temporaryPath(): string {
    return join(this.location, TEMPORARY, `${randomUUID()}.part`);
  }

  #path(id: string): string {
    return join(this.location, id.slice(0, 2), id);
  }
}

/**
 * Makes the written temporary file `temporary` the blob `name()` names in the
 * blob directory `location`: `sync` makes it durable while `written` checks
 * it, then it is renamed and its folder synced. Closes `file`, if open; on
 * failure removes `temporary`.
 */
async function publish(location: string, temporary: string, bytes: number, sync: () => Promise<void>, name: () => string, written: (() => void) | undefined, file?: FileHandle): Promise<BlobInfo> {
  let id: string;
  /** What the writer's own callbacks threw: the write's error as it is, not a BACKEND error. */
  let refusal: { error: unknown } | undefined;
  try {
    // The writer's check runs while the last bytes go to the disk.
    const syncing = sync();
    try {
      written?.();
      id = name();
    } catch (error) {
      refusal = { error };
      throw error;
    } finally {
      await syncing.catch(() => undefined);
    }
    await syncing;
    if (!isBlobId(id)) throw new MemostrataError('INVALID_ARGUMENT', `A blob was to be named ${JSON.stringify(id)}, which is not a blob id (64 lowercase hex characters).`);
  } catch (error) {
    await file?.close().catch(() => undefined);
    await rm(temporary, { force: true }).catch(() => undefined);
    throw refusal !== undefined && error === refusal.error ? error : blobError(location, 'write', error);
  }
  await file?.close();
  const folder = join(location, id.slice(0, 2));
  try {
    const created = await mkdir(folder, { recursive: true });
    // Replacing an existing blob is fine: same name, same bytes, and a damaged copy gets repaired.
    await rename(temporary, join(folder, id));
    await syncDirectory(folder);
    // The folder's own entry is durable once this process has synced the blob directory after seeing it: a folder
    // found existing may be another write's that has not synced it yet (or never will: it died); one made now
    // is new even if a folder of that path was synced before (the blob directory was removed and made again).
    if (created !== undefined || !syncedFolders.has(folder)) {
      await syncDirectory(location);
      syncedFolders.add(folder);
    }
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw blobError(location, 'write', error);
  }
  return { id, bytes };
}

/** A blob written by {@link FileBlobStore.begin}: a temporary file whose writes are in flight or done. */
class PendingFileBlob implements PendingBlob {
  /** The blob directory. */
  readonly #location: string;
  readonly #temporary: string;
  readonly #bytes: number;
  /** Settles once every byte is handed to the file. */
  readonly #written: Promise<void>;
  /** Settles once they are durable and the file is closed. */
  readonly #synced: Promise<void>;
  #taken = false;

  /** Queues no more of its chunks: what is in the pool lands, the rest is never written. */
  readonly #stop: () => void;

  constructor(location: string, temporary: string, bytes: number, written: Promise<void>, synced: Promise<void>, stop: () => void) {
    this.#stop = stop;
    this.#location = location;
    this.#temporary = temporary;
    this.#bytes = bytes;
    this.#written = written;
    this.#synced = synced;
  }

  async finish(options: BlobWriteOptions & { name: () => string }): Promise<BlobInfo> {
    if (this.#taken) throw new MemostrataError('INVALID_ARGUMENT', 'This blob write was already finished or abandoned.');
    this.#taken = true;
    try {
      await this.#written;
      // Written long ago maybe: a blob younger than the grace period is what a prune of a shared store leaves to
      // its writer. (A prune may also have taken the old unfinished file: then this fails and nothing is named.)
      const now = new Date();
      await utimes(this.#temporary, now, now);
    } catch (error) {
      await this.#synced.catch(() => undefined);
      // A removal that fails too (its folder gone or made a file) must not replace the write's BACKEND error with a
      // raw one: the caller writes the blob again on BACKEND, and a checkpoint fails only with MemostrataErrors.
      await rm(this.#temporary, { force: true }).catch(() => undefined);
      throw blobError(this.#location, 'write', error);
    }
    return publish(this.#location, this.#temporary, this.#bytes, () => this.#synced, options.name, options.written);
  }

  async abandon(): Promise<void> {
    if (this.#taken) return;
    this.#taken = true;
    // Bytes that will be removed need not go to the disk (nor a close() wait for them): chunks still waiting for room
    // in the pool are dropped, and the datasyncs are skipped (the write then fails, which is what is waited for).
    this.#stop();
    await this.#synced.catch(() => undefined);
    await rm(this.#temporary, { force: true }).catch(() => undefined);
  }
}

class FileBlobReader implements BlobReader {
  readonly bytes: number;
  readonly #file: FileHandle;
  readonly #id: string;

  constructor(file: FileHandle, bytes: number, id: string) {
    this.#file = file;
    this.bytes = bytes;
    this.#id = id;
  }

  async read(position: number, target: Uint8Array): Promise<void> {
    let done = 0;
    while (done < target.byteLength) {
      const { bytesRead } = await this.#file.read(target, done, target.byteLength - done, position + done);
      if (bytesRead === 0) {
        throw new MemostrataError('CORRUPT', `The blob ${this.#id} ends at byte ${position + done}, before the ${position + target.byteLength} bytes it should have; run \`memostrata verify --fix\`.`);
      }
      done += bytesRead;
    }
  }

  close(): Promise<void> {
    return this.#file.close();
  }
}

/** Blob folders whose entry in their blob directory this process has synced: that directory is synced once per folder, not per blob. */
const syncedFolders = new Set<string>();

/** Bytes written between two early flushes of a blob: the disk starts on them while the rest is produced. */
const EARLY_FLUSH_BYTES = 64 * 1024 * 1024;

/**
 * Makes a blob durable as it is written, not all at the end: every
 * {@link EARLY_FLUSH_BYTES} a `datasync` of what is written so far starts in
 * the background (one at a time), so the disk works while the CPU produces
 * and checksums the rest, and the last sync only has the tail to write.
 */
class EarlyFlush {
  readonly #file: FileHandle;
  #flushed = 0;
  #running: Promise<void> | undefined;
  /**
   * The first early flush that failed. Kept, not just awaited: after a failed
   * fsync Linux may report the next one as a success though the pages were
   * lost, so a failure here fails the write whatever the last sync says.
   */
  #failure: { error: unknown } | undefined;

  constructor(file: FileHandle) {
    this.#file = file;
  }

  /** Starts a flush when `written` bytes are at least a step past the last one and none is running. */
  after(written: number): void {
    if (this.#running !== undefined || written - this.#flushed < EARLY_FLUSH_BYTES) return;
    this.#flushed = written;
    const running: Promise<void> = this.#file
      .datasync()
      .catch((error: unknown) => {
        this.#failure ??= { error };
      })
      .finally(() => {
        if (this.#running === running) this.#running = undefined;
      });
    this.#running = running;
  }

  /** Waits for the flush still running, then syncs the whole file; throws what any flush met. */
  async finish(): Promise<void> {
    await this.#running;
    if (this.#failure !== undefined) throw this.#failure.error;
    await this.#file.sync();
  }
}

/**
 * The most bytes one write(2) call takes. Measured here (Linux, ext4): 64 MB
 * written in chunks of 512 KiB reaches the page cache in about 30 ms, in
 * chunks of 2 MiB or more in 130–200 ms; Node's own `writeFile` uses 512 KiB.
 */
const WRITE_CHUNK_BYTES = 512 * 1024;

/**
 * The most started writes ({@link FileBlobStore.begin}) with a descriptor
 * open at once, in the process: a loop of large results before a checkpoint
 * must not use up the descriptors LevelDB and LMDB open files with.
 */
export const STARTED_OPEN_MAX = 64;

/** Started writes whose descriptor is open now. */
let startedOpen = 0;

/**
 * Bytes of blob writes queued in the thread pool at a time, by every started
 * write of the process together: more, and every other user of the pool waits
 * behind them. (A bound per write would not do: a loop that returns many large
 * results before a checkpoint starts a write per result.)
 */
const WRITES_QUEUED_BYTES = 128 * 1024 * 1024;

/** Bytes of started writes' chunks in the thread pool now (see {@link WRITES_QUEUED_BYTES}). */
let poolQueuedBytes = 0;

/** The writes with chunks left that wait for room in the pool, oldest first: each is woken to queue more. */
const waitingForPool = new Set<() => void>();

/** Lets the writes that wait queue chunks, oldest first, while there is room. */
function poolRoomFreed(): void {
  for (const pump of waitingForPool) {
    if (poolQueuedBytes >= WRITES_QUEUED_BYTES) return;
    pump();
  }
}

/** One write of a blob started with {@link FileBlobStore.begin}: at most {@link WRITE_CHUNK_BYTES}. */
interface Chunk {
  readonly bytes: Uint8Array;
  readonly position: number;
}

/**
 * Writes every chunk to `fd`, queueing chunks in the thread pool while all
 * started writes together have less than {@link WRITES_QUEUED_BYTES} there,
 * and more as those finish: the pool is shared with every other file
 * operation of the process (and classic-level's reads), so a gigabyte queued
 * at once would hold them all up for seconds. Calls `queuedAll` once the last
 * chunk is queued; `done` settles once none is in flight, rejecting with the
 * first error (no chunk is queued after it). `stop` queues no more chunks
 * (`done` then rejects, once those in flight landed).
 */
function writeChunks(fd: number, chunks: readonly Chunk[], queuedAll: () => void): { done: Promise<void>; stop: () => void } {
  let stop: () => void = noop;
  const done = new Promise<void>((resolve, reject) => {
    let next = 0;
    let inFlight = 0;
    let failure: { error: unknown } | undefined;
    stop = () => {
      failure ??= { error: new MemostrataError('BACKEND', 'The blob write was abandoned before all of it was written.') };
      pump();
    };
    const pump = (): void => {
      waitingForPool.delete(pump);
      while (next < chunks.length && poolQueuedBytes < WRITES_QUEUED_BYTES && failure === undefined) {
        const chunk = chunks[next++]!;
        inFlight += 1;
        poolQueuedBytes += chunk.bytes.byteLength;
        writeAllAt(fd, chunk.bytes, chunk.position)
          .catch((error: unknown) => {
            failure ??= { error };
          })
          .finally(() => {
            inFlight -= 1;
            poolQueuedBytes -= chunk.bytes.byteLength;
            pump();
            poolRoomFreed();
          });
        if (next === chunks.length) queuedAll();
      }
      // Stopped by the bound: a chunk of any write that lands wakes it (some are in flight, or there would be room).
      if (next < chunks.length && failure === undefined) waitingForPool.add(pump);
      if (inFlight > 0) return;
      if (failure !== undefined) reject(failure.error);
      else if (next === chunks.length) resolve();
    };
    if (chunks.length === 0) queuedAll();
    pump();
  });
  return { done, stop };
}

function noop(): void {}

/** Writes all of `part` (at most {@link WRITE_CHUNK_BYTES}) at `position` through the callback API: it is with the thread pool when this returns. */
function writeAllAt(fd: number, part: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done >= part.byteLength) return resolve();
      writeFd(fd, part, done, part.byteLength - done, position + done, (error, written) => (error === null ? step(done + written) : reject(error)));
    };
    step(0);
  });
}

function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasyncFd(fd, (error) => (error === null ? resolve() : reject(error))));
}

/** Writes all of `part` at `position` through `file`, {@link WRITE_CHUNK_BYTES} per call, one call after another. */
async function writeAll(file: FileHandle, part: Uint8Array, position: number): Promise<void> {
  for (let start = 0; start < part.byteLength; start += WRITE_CHUNK_BYTES) await writeAllAt(file.fd, part.subarray(start, start + WRITE_CHUNK_BYTES), position + start);
}

async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

async function entriesOf(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

function blobError(location: string, action: 'read' | 'write' | 'delete', error: unknown): MemostrataError {
  if (error instanceof MemostrataError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const hint = code === 'ENOSPC' ? ' The disk is full: free space, then checkpoint again (nothing stored was lost).' : code === 'EACCES' || code === 'EROFS' ? ' Check that this process may write there.' : '';
  return new MemostrataError('BACKEND', `Could not ${action} a blob in ${location}: ${(error as Error).message}.${hint}`, { cause: error });
}
