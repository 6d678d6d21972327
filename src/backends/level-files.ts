import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { MemostrataError } from '../errors.js';

/*
 * The files of a LevelDB store directory that memostrata looks at itself:
 * where the directory may be, who holds it, how big it is. LevelDB's own files
 * (CURRENT, LOCK, *.ldb, …) are LevelDB's business.
 */

/** The file beside LOCK that names the process holding the store. */
export const OWNER_FILE = 'owner';

/** Who holds a store, as written in its {@link OWNER_FILE}. */
export interface StoreOwner {
  pid: number;
  hostname: string;
  /** ms since the epoch. */
  since: number;
}

/**
 * `location` with every symlink resolved, also for a store not made yet (its
 * nearest existing ancestor is resolved). Two spellings of one directory must
 * share one handle: a second LevelDB handle on the same files keeps its own
 * memtable, and closing it drops the process's POSIX lock on the store.
 */
export function canonicalLocation(location: string): string {
  try {
    return realpathSync.native(location);
  } catch {
    const parent = dirname(location);
    return parent === location ? location : join(canonicalLocation(parent), basename(location));
  }
}

/**
 * Makes sure `location` is a directory LevelDB may use, creating it (and its
 * missing parents) one level at a time. classic-level creates it with a
 * recursive `mkdir`, which spins forever on paths such as `/proc/nope`
 * (Node retries the ENOENT there without end), so it must find the directory made.
 *
 * @throws MemostrataError `NOT_A_STORE` when the path is a file, or a non-empty
 *   directory that LevelDB did not make; `CONFIG` when it lies under a file or
 *   cannot be created (the reason, e.g. `EACCES`, is in the message).
 */
export function prepareStoreLocation(location: string): void {
  if (existsSync(location)) {
    if (!statSync(location).isDirectory()) {
      throw new MemostrataError('NOT_A_STORE', `${location} is a file, not a store directory; choose another path for the cache.`);
    }
    const names = readdirSync(location);
    if (names.length > 0 && !names.includes('CURRENT')) {
      throw new MemostrataError(
        'NOT_A_STORE',
        `${location} is a directory that holds other files, not a memostrata store; choose an empty or new path.`,
      );
    }
    return;
  }
  makeDirectory(location, `make a store at ${location}`);
}

/**
 * Creates the directory `location` and its missing parents one level at a
 * time (a recursive `mkdir` spins forever under `/proc`).
 *
 * @throws MemostrataError `CONFIG` naming `what` when a parent is a file or a
 *   directory cannot be created (with the reason, such as `EACCES`).
 */
export function makeDirectory(location: string, what: string): void {
  const missing: string[] = [];
  let ancestor = location;
  while (!existsSync(ancestor)) {
    missing.unshift(ancestor);
    const parent = dirname(ancestor);
    if (parent === ancestor) break;
    ancestor = parent;
  }
  if (existsSync(ancestor) && !statSync(ancestor).isDirectory()) {
    throw new MemostrataError('CONFIG', `Cannot ${what}: ${ancestor} is a file, not a directory. Choose a path under a directory.`);
  }
  for (const directory of missing) {
    try {
      mkdirSync(directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && statSync(directory).isDirectory()) continue;
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new MemostrataError('CONFIG', `Cannot ${what}: creating ${directory} failed (${reason}). Choose a path in a directory you can write to.`, {
        cause: error,
      });
    }
  }
}

/** Writes this process into the store's owner file; best effort (a read-only store still opens). */
export function writeOwner(location: string): void {
  const owner: StoreOwner = { pid: process.pid, hostname: hostname(), since: Date.now() };
  try {
    writeFileSync(join(location, OWNER_FILE), `${JSON.stringify(owner)}\n`);
  } catch {
    // Only messages read it: a store that cannot take the file must still open.
  }
}

/** Removes the owner file if this process wrote it. */
export function removeOwner(location: string): void {
  const owner = readOwner(location);
  if (owner !== undefined && owner.pid === process.pid && owner.hostname === hostname()) rmSync(join(location, OWNER_FILE), { force: true });
}

/** The store's owner file, or `undefined` when it is missing or unreadable. */
export function readOwner(location: string): StoreOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(join(location, OWNER_FILE), 'utf8')) as Partial<StoreOwner>;
    if (typeof owner.pid !== 'number' || typeof owner.hostname !== 'string' || typeof owner.since !== 'number') return undefined;
    return { pid: owner.pid, hostname: owner.hostname, since: owner.since };
  } catch {
    return undefined;
  }
}

/** Whether process `pid` runs on this host (a process of another user counts as running). */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * "process 1234 on host x (since …)" for the holder named by the owner file,
 * when that names a live process (a holder killed before it could write the
 * file leaves an older owner's name behind); else `undefined`.
 */
export function describeHolder(location: string): string | undefined {
  const owner = readOwner(location);
  if (owner === undefined) return undefined;
  if (owner.hostname === hostname() && !processIsAlive(owner.pid)) return undefined;
  return `process ${owner.pid} on ${owner.hostname} (holding it since ${new Date(owner.since).toISOString()})`;
}

/** Σ of the sizes of the files under `dir`, recursively. */
export function directorySize(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += directorySize(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/** Bytes of LevelDB's write-ahead logs (`*.log`) in the store at `dir`: what the next open replays. */
export function writeAheadLogBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isFile() && entry.name.endsWith('.log')) total += statSync(join(dir, entry.name)).size;
  return total;
}

/** How old a work directory of a process on another host must be before it counts as abandoned. */
export const ABANDONED_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * A path beside `path` that does not exist yet, for work that is renamed into
 * place when done (`.store.copying-<host>-<pid>-<ms>-<n>`). It names the host
 * and process, so {@link removeAbandonedSiblings} can tell a live copy from a dead one.
 */
export function siblingPath(path: string, purpose: string): string {
  for (let attempt = 0; ; attempt += 1) {
    const candidate = join(dirname(path), `.${basename(path)}.${purpose}-${hostname()}-${process.pid}-${Date.now()}-${attempt}`);
    if (!existsSync(candidate)) return candidate;
  }
}

/** A work directory beside a store, as {@link siblingPath} names it. */
interface Sibling {
  path: string;
  purpose: string;
  host: string;
  pid: number;
  startedAt: number;
}

/** The work directories ({@link siblingPath}) beside `path`. */
function siblings(path: string): Sibling[] {
  const directory = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    if (!name.startsWith(prefix)) return [];
    const match = /^([a-z]+)-(.*)-(\d+)-(\d+)-(\d+)$/.exec(name.slice(prefix.length));
    if (match === null) return [];
    return [{ path: join(directory, name), purpose: match[1]!, host: match[2]!, pid: Number(match[3]), startedAt: Number(match[4]) }];
  });
}

/** Whether the process that made `sibling` is gone (this host), or it is a day old (another host). */
function isAbandoned(sibling: Sibling, now: number): boolean {
  return sibling.host === hostname() ? !processIsAlive(sibling.pid) : now - sibling.startedAt > ABANDONED_AFTER_MS;
}

/**
 * Removes the work directories ({@link siblingPath}) of `path` for `purposes`
 * that a killed process left behind: those of a process of this host that is
 * gone, and those of another host older than {@link ABANDONED_AFTER_MS} (a
 * pid of another host cannot be checked, and no copy runs for a day).
 * A copy still running in a live process is never touched. Returns the removed paths.
 */
export function removeAbandonedSiblings(path: string, purposes: readonly string[], now = Date.now()): string[] {
  const removed: string[] = [];
  for (const sibling of siblings(path)) {
    if (!purposes.includes(sibling.purpose) || !isAbandoned(sibling, now)) continue;
    rmSync(sibling.path, { recursive: true, force: true });
    removed.push(sibling.path);
  }
  return removed;
}

/**
 * Finishes a repair (`LevelBackend.repair()`) that a killed process left:
 * a repair copies what it can read into `salvage`, moves the store aside to
 * `damaged`, then moves `salvage` into place. Killed between the two moves,
 * the store is missing and its salvaged copy complete: move it into place
 * (else the next open would make an empty store). Then remove what abandoned
 * repairs left beside an existing store.
 */
export function finishInterruptedRepair(location: string, now = Date.now()): void {
  const found = siblings(location).filter((sibling) => (sibling.purpose === 'salvage' || sibling.purpose === 'damaged') && isAbandoned(sibling, now));
  if (!existsSync(location)) {
    for (const damaged of found.filter((sibling) => sibling.purpose === 'damaged')) {
      const salvage = found.find((sibling) => sibling.purpose === 'salvage' && sibling.host === damaged.host && sibling.pid === damaged.pid);
      if (salvage === undefined) continue;
      renameSync(salvage.path, location);
      break;
    }
  }
  if (!existsSync(location)) return;
  for (const sibling of found) rmSync(sibling.path, { recursive: true, force: true });
}
