import { existsSync } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { makeDirectory } from '../backends/level-files.js';
import type { Store } from '../cache/store.js';
import { MemostrataError, isMemostrataError } from '../errors.js';
import { FORMAT_VERSION, keyText, valueKey } from '../layers/keys.js';

/** Store formats whose exports import: a format-2 store is a format-3 store without lineage (see migrate.ts). */
const IMPORTS_STORE_FORMATS: readonly number[] = [2, 3, FORMAT_VERSION];
import { typesKey } from '../layers/serialized-db.js';
import { asPinRecord } from './pins.js';
import { BatchWriter, contentUuidOf, parseKey, Progress, recordProblem, referencedUuids, undefinedUuidOf, type ProgressOptions } from './common.js';
import type { MemoRecord } from '../layers/proxy-object-database.js';
import { recountModules } from './module-meta.js';
import { blobItemHead, entryParts, EXPORT_END_FORMAT, EXPORT_FORMAT, EXPORT_VERSION, ExportReader, READS_EXPORT_VERSIONS } from './export-file.js';
import { checkBlob, readBlobLayout, readSegments } from '../layers/blob/blob-file.js';
import type { BlobReader } from '../contract/blob-store.js';
import { blobProblem, blobReferenceOf, keyBytes, referenceRanges } from './blobs.js';

export { EXPORT_FORMAT, EXPORT_END_FORMAT, EXPORT_VERSION } from './export-file.js';

/** The first item of an export file. */
export interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  /** The export file format version: 1. */
  version: number;
  /** When the export was written (ms since the epoch). */
  createdAt: number;
  /** Where the exported store lived (a path, or `memory`). */
  source: string;
  /** The store format version of the exported entries. */
  storeFormat: number;
}

/** Options of {@link exportStore}. */
export interface ExportOptions extends ProgressOptions {
  /** Replace an existing file. Default `false`. */
  force?: boolean;
}

/** What {@link exportStore} wrote. */
export interface ExportResult {
  /** The absolute path of the file written. */
  file: string;
  /** Entries (keys) written. */
  entries: number;
  /** Size of the file (bytes). */
  bytes: number;
  /** Blobs (large values) written as blob items. */
  blobs: number;
  /** Their size (bytes). */
  blobBytes: number;
}

/** Added and skipped (already present) counts of one kind of entry. */
export interface MergeCount {
  added: number;
  skipped: number;
}

/** What {@link importStore} merged. */
export interface ImportResult {
  /** The export's header. */
  header: ExportHeader;
  /** Entries in the file. */
  entries: number;
  /** Values (`v!`): added, or skipped because the store has them (content-addressed, so equal). */
  values: MergeCount;
  /** Memo records (`m!`): added, or skipped because the store has a record of the same call. */
  records: MergeCount;
  /** Saved states of unfinished calls (`s!`). */
  states: MergeCount;
  /** Blobs (large values): added, or skipped because the store has them (named by their content, so equal). */
  blobs: MergeCount;
  /** Registered type names added to `meta!types`. */
  typesAdded: string[];
}

const WRITE_CHUNK = 1 << 20;

/**
 * Writes every entry of `store`, read from one snapshot, to `file` as a
 * portable CBOR sequence (docs/export-format.md), streaming: the store is
 * never held in memory. The file is written under a temporary name and
 * renamed when complete, so a failed export leaves no partial file.
 *
 * @throws MemostrataError `CONFIG` when `file` exists and `force` is not set,
 *   or lies under a file or in a directory that cannot be created.
 */
export async function exportStore(store: Store, file: string, options: ExportOptions = {}): Promise<ExportResult> {
  const target = resolve(file);
  if (existsSync(target) && options.force !== true) throw new MemostrataError('CONFIG', `${target} exists; pass force (--force on the command line) to overwrite it, or choose another file.`);
  makeDirectory(dirname(target), `write an export to ${target}`);
  const partial = join(dirname(target), `.${basename(target)}.partial-${process.pid}-${Date.now()}`);
  const progress = new Progress(options.onProgress);
  const handle = await open(partial, 'wx');
  let bytes = 0;
  let entries = 0;
  let blobs = 0;
  let blobBytes = 0;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const write = async (parts: Uint8Array[]) => {
    for (const part of parts) {
      pending.push(part);
      pendingBytes += part.length;
    }
    if (pendingBytes >= WRITE_CHUNK) await drain();
  };
  const drain = async () => {
    const chunk = Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    await handle.write(chunk);
    bytes += chunk.length;
  };
  try {
    const header: ExportHeader = { format: EXPORT_FORMAT, version: EXPORT_VERSION, createdAt: Date.now(), source: store.location, storeFormat: FORMAT_VERSION };
    await write([store.serialized.codec.encode(header, 'the export header')]);
    // Every key but the b! chunks of blobs: blobs follow the entries as blob items, whatever holds them.
    const named = new Map<string, { bytes: number; key: string }>();
    for (const range of referenceRanges()) {
      for await (const [key, value] of store.bytes.entries(range)) {
        await write(entryParts(key, value));
        entries += 1;
        const reference = blobReferenceOf(store, value);
        if (reference !== undefined && !named.has(reference.id)) named.set(reference.id, { bytes: reference.bytes, key: keyText(key) });
        progress.step();
      }
    }
    for (const [id, { bytes: size, key }] of named) {
      await write(blobItemHead(id, size));
      await writeBlob(store, id, size, key, write);
      blobs += 1;
      blobBytes += size;
      progress.step();
    }
    // `blobs` only when there are some: a file without blobs ends as version 1 files do.
    await write([store.serialized.codec.encode({ format: EXPORT_END_FORMAT, entries, ...(blobs > 0 ? { blobs } : {}) }, 'the export trailer')]);
    await drain();
    await handle.sync();
    await handle.close();
    await rename(partial, target);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(partial).catch(() => undefined);
    throw error;
  }
  progress.finish();
  return { file: target, entries, bytes, blobs, blobBytes };
}

/**
 * Streams the bytes of blob `id`, named at `key`, into the export through
 * `write`, checking it whole as it goes (`checkBlob`): a damaged blob is
 * never exported.
 */
async function writeBlob(store: Store, id: string, size: number, key: string, write: (parts: Uint8Array[]) => Promise<void>): Promise<void> {
  const fail = (what: string): never => {
    throw new MemostrataError('CORRUPT', `The blob ${id} named at ${key} ${what}; nothing was exported. Run \`memostrata verify --fix\`, then export again.`);
  };
  const reader = await store.serialized.largeValues.open(id);
  if (reader === undefined) return fail(`is missing from ${store.serialized.largeValues.location}`);
  try {
    const problem = await checkBlob(reader, { id, bytes: size }, id, keyBytes([key]), (slice) => write([slice]));
    if (problem !== undefined) fail(`is damaged (${problem})`);
  } finally {
    await reader.close();
  }
}

/**
 * Merges an export file into `store`. The whole file is checked first, and
 * nothing is written unless all of it is sound: framing, key order, every
 * value decodes and matches its UUID, every record is well formed and every
 * value it refers to is in the file or the store, and the trailer's count.
 * Then, in batches, values are written first and records, states and the type
 * list after them, so the store never holds a record without its values.
 *
 * Merge rules: a value the store has is skipped (values are content-addressed,
 * so it is equal); a record or saved state whose key the store has is kept as
 * it is and the imported one skipped (the same key is the same call, and the
 * store's own record is never replaced); `meta!types` becomes the union;
 * `meta!format` must equal the store's. Importing a file twice adds nothing.
 *
 * @throws MemostrataError `CORRUPT` for a damaged, truncated or foreign file and
 *   `FORMAT_VERSION` for an unknown export or store format; nothing is written then.
 */
export async function importStore(store: Store, file: string, options: ProgressOptions = {}): Promise<ImportResult> {
  const path = resolve(file);
  const progress = new Progress(options.onProgress);
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new MemostrataError('CONFIG', `Cannot read the export file ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const stat = await handle.stat();
    const checked = await checkExport(store, handle, stat.size, path, progress);
    progress.total = 4 * checked.entries;
    const assertUnchanged = async () => {
      const now = await handle.stat();
      if (now.size !== stat.size || now.mtimeMs !== stat.mtimeMs) {
        throw new MemostrataError('CORRUPT', `${path} changed while it was imported; import it again once nothing writes to it.`);
      }
    };
    const result: ImportResult = {
      header: checked.header,
      entries: checked.entries,
      values: { added: 0, skipped: 0 },
      records: { added: 0, skipped: 0 },
      states: { added: 0, skipped: 0 },
      blobs: { added: 0, skipped: 0 },
      typesAdded: [],
    };
    const touched = new Set<string>();
    // Blobs first, durably (BlobStore.write), then the values that name them, then what names the values.
    for (const pass of ['blobs', 'values', 'rest'] as const) {
      await assertUnchanged();
      const reader = new ExportReader(handle, stat.size, path);
      const writer = new BatchWriter(store.bytes);
      await reader.next(); // the header
      for (let item = await reader.next(); item?.kind === 'entry' || item?.kind === 'blob'; item = await reader.next()) {
        progress.step();
        if (item.kind === 'blob') {
          if (pass === 'blobs') await importBlob(store, reader, item, checked.blobKeys.get(item.id) ?? [], result.blobs, path);
          continue;
        }
        if (pass === 'blobs') continue;
        const parsed = parseKey(keyText(item.key));
        const count =
          parsed.kind === 'value' ? result.values : parsed.kind === 'record' ? result.records : parsed.kind === 'state' ? result.states : undefined;
        if ((pass === 'values') !== (parsed.kind === 'value')) continue;
        // Module metadata is recounted from the merged records below, never copied.
        if (parsed.kind !== 'value' && parsed.kind !== 'record' && parsed.kind !== 'state' && parsed.kind !== 'used-by' && parsed.kind !== 'pin' && parsed.kind !== 'module-pin') continue;
        if (await store.bytes.has(item.key)) {
          if (count !== undefined) count.skipped += 1;
          continue;
        }
        // Buffers of the reader are replaced, never reused, so the batch may hold them.
        await writer.put(item.key, item.value);
        if (count !== undefined) count.added += 1;
        if (parsed.kind === 'record') touched.add(parsed.module);
      }
      await writer.flush(true);
    }
    await recountModules(store, touched);
    const stored = await store.serialized.storedTypeNames();
    result.typesAdded = checked.types.filter((name) => !stored.includes(name)).sort();
    if (result.typesAdded.length > 0) await store.serialized.put(typesKey, [...stored, ...result.typesAdded].sort(), { sync: true });
    progress.finish();
    return result;
  } finally {
    await handle.close();
  }
}

/**
 * Writes a blob item, named at `keys`, into the store's largeValues unless it
 * has the blob already, then checks what was written (the file was checked
 * before, but may have changed since).
 */
async function importBlob(store: Store, reader: ExportReader, item: { id: string; size: number; dataOffset: number }, keys: readonly string[], count: MergeCount, path: string): Promise<void> {
  const existing = await store.serialized.largeValues.open(item.id);
  if (existing !== undefined) {
    const size = existing.bytes;
    await existing.close();
    if (size === item.size) {
      count.skipped += 1;
      return;
    }
  }
  await store.serialized.largeValues.write(reader.blobSlices(item), { name: () => item.id });
  const problem = await blobProblem(store, { id: item.id, bytes: item.size }, keys);
  if (problem !== undefined) {
    await store.serialized.largeValues.delete([item.id]);
    throw new MemostrataError('CORRUPT', `${path} changed while it was imported (blob ${item.id} ${problem.message}); import it again once nothing writes to it.`);
  }
  count.added += 1;
}

/**
 * The first of `keys` that is a value key (`v!<uuid>`) whose UUID the large
 * value in the blob `reader` has open does not have, or `undefined`: an
 * import refuses a large value that is not what its key says, as it refuses a
 * small one (a blob's name needs no secret, so a sound blob proves nothing
 * about its value). A value of a type this process has not registered is left
 * to the read, as for small values. Reads the value whole, once.
 */
async function blobValueMismatch(store: Store, reader: BlobReader, id: string, keys: readonly string[]): Promise<string | undefined> {
  const valueKeys = keys.filter((key) => parseKey(key).kind === 'value');
  if (valueKeys.length === 0) return undefined;
  const layout = await readBlobLayout(reader, id);
  let value: unknown;
  try {
    value = store.serialized.codec.decodeSplit(layout.skeleton, await readSegments(reader, layout, id));
  } catch (error) {
    if (isMemostrataError(error, 'UNKNOWN_TYPE')) return undefined;
    throw error;
  }
  const uuid = contentUuidOf(store, value);
  return valueKeys.find((key) => typeof uuid !== 'string' || keyText(valueKey(uuid)) !== key);
}

interface CheckedExport {
  header: ExportHeader;
  entries: number;
  types: string[];
  /** The keys that name each blob (a value blob's name is checked with them). */
  blobKeys: Map<string, string[]>;
}

/** Reads the whole file once and checks everything an import relies on; writes nothing. */
async function checkExport(store: Store, handle: FileHandle, size: number, path: string, progress: Progress): Promise<CheckedExport> {
  const reader = new ExportReader(handle, size, path);
  const codec = store.serialized.codec;
  const decodeMap = (bytes: Uint8Array, offset: number): Record<string, unknown> => {
    let value: unknown;
    try {
      value = codec.decode(bytes);
    } catch (error) {
      throw reader.corrupt(offset, `a header or trailer map does not decode (${(error as Error).message})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw reader.corrupt(offset, 'expected a map');
    return value as Record<string, unknown>;
  };

  const first = await reader.next().catch(() => undefined);
  if (first?.kind !== 'map') throw reader.corrupt(0, 'it does not start with an export header');
  const header = decodeMap(first.bytes, 0);
  if (header.format !== EXPORT_FORMAT) throw reader.corrupt(0, `the header's format is ${JSON.stringify(header.format)}, not '${EXPORT_FORMAT}'`);
  if (!READS_EXPORT_VERSIONS.includes(header.version as number)) {
    throw new MemostrataError('FORMAT_VERSION', `${path} is export format version ${JSON.stringify(header.version)}; this memostrata reads versions ${READS_EXPORT_VERSIONS.join(' and ')}. Upgrade memostrata to import it.`);
  }
  if (!IMPORTS_STORE_FORMATS.includes(header.storeFormat as number)) {
    throw new MemostrataError('FORMAT_VERSION', `${path} holds store format version ${JSON.stringify(header.storeFormat)}; this memostrata reads version ${FORMAT_VERSION}.`);
  }

  const undefinedUuid = undefinedUuidOf(store);
  const needed = new Map<string, string>(); // value UUID → a record key that needs it
  let types: string[] = [];
  let previous: Uint8Array | undefined;
  let entries = 0;
  const fileBlobs = new Set<string>();
  const neededBlobs = new Map<string, string[]>(); // blob id → the keys that name it
  let item = await reader.next();
  for (; item?.kind === 'entry' || item?.kind === 'blob'; item = await reader.next()) {
    if (item.kind === 'blob') {
      const problem = await checkBlob(reader.blobReader(item), { id: item.id, bytes: item.size }, item.id, keyBytes(neededBlobs.get(item.id) ?? []));
      if (problem !== undefined) throw reader.corrupt(item.offset, `blob ${item.id} is damaged: ${problem}`);
      const mismatch = await blobValueMismatch(store, reader.blobReader(item), item.id, neededBlobs.get(item.id) ?? []);
      if (mismatch !== undefined) throw reader.corrupt(item.offset, `the value of ${mismatch} (blob ${item.id}) does not match its UUID`);
      fileBlobs.add(item.id);
      progress.step();
      continue;
    }
    if (fileBlobs.size > 0) throw reader.corrupt(item.offset, 'an entry follows the blobs');
    const { key, value: bytes, offset } = item;
    if (previous !== undefined && Buffer.compare(previous, key) >= 0) throw reader.corrupt(offset, 'entries are not in strictly increasing key order');
    previous = key;
    entries += 1;
    progress.step();
    const text = Buffer.from(key).toString('utf8');
    const parsed = parseKey(text);
    if (parsed.kind === 'unknown' || parsed.kind === 'blob' || !Buffer.from(text, 'utf8').equals(key)) throw reader.corrupt(offset, `${JSON.stringify(text)} is not a key of the store layout`);
    const reference = blobReferenceOf(store, bytes);
    if (reference !== undefined) {
      // A large value: its blob is checked by its hash (its name), below or in the store.
      neededBlobs.set(reference.id, [...(neededBlobs.get(reference.id) ?? []), text]);
      if (parsed.kind === 'value') needed.delete(parsed.uuid);
      continue;
    }
    let value: unknown;
    try {
      value = codec.decode(bytes);
    } catch (error) {
      // A registered type this process does not know is well formed: its bytes are copied as they are.
      if (!isMemostrataError(error, 'UNKNOWN_TYPE') || parsed.kind === 'record' || parsed.kind === 'format' || parsed.kind === 'types') {
        throw reader.corrupt(offset, `the value of ${text} does not decode (${(error as Error).message})`);
      }
      if (parsed.kind === 'value') needed.delete(parsed.uuid);
      continue;
    }
    switch (parsed.kind) {
      case 'value': {
        if (contentUuidOf(store, value) !== parsed.uuid) throw reader.corrupt(offset, `the value of ${text} does not match its UUID`);
        needed.delete(parsed.uuid);
        break;
      }
      case 'record': {
        const problem = recordProblem(store, value, parsed.module, parsed.call);
        if (problem !== undefined) throw reader.corrupt(offset, `the record ${text} ${problem}`);
        for (const uuid of referencedUuids(value as MemoRecord)) if (uuid !== undefinedUuid) needed.set(uuid, text);
        break;
      }
      case 'pin':
      case 'module-pin':
        if (asPinRecord(value) === undefined) throw reader.corrupt(offset, `the pin ${text} is not { pinnedAt }`);
        break;
      case 'format':
        if (!IMPORTS_STORE_FORMATS.includes(value as number)) throw new MemostrataError('FORMAT_VERSION', `${path} holds meta!format ${JSON.stringify(value)}; this memostrata reads version ${FORMAT_VERSION}.`);
        break;
      case 'types':
        if (!Array.isArray(value) || !value.every((name) => typeof name === 'string')) throw reader.corrupt(offset, 'meta!types is not a list of type names');
        types = value as string[];
        break;
      default:
        break;
    }
  }
  const trailerOffset = reader.offset;
  if (item === undefined) throw reader.corrupt(trailerOffset, 'the file ends without its trailer (truncated?)');
  const trailer = decodeMap(item.kind === 'map' ? item.bytes : new Uint8Array(), item.offset);
  if (trailer.format !== EXPORT_END_FORMAT || trailer.entries !== entries || (trailer.blobs ?? 0) !== fileBlobs.size) {
    throw reader.corrupt(item.offset, `the trailer does not close ${entries} entries and ${fileBlobs.size} blobs (found ${JSON.stringify(trailer)})`);
  }
  if (reader.offset !== size) throw reader.corrupt(reader.offset, 'data follows the trailer');
  for (const [uuid, record] of needed) {
    if (!(await store.bytes.has(valueKey(uuid)))) {
      throw reader.corrupt(size, `the record ${record} refers to value ${uuid}, which neither the file nor the store holds`);
    }
  }
  for (const [id, keys] of neededBlobs) {
    if (fileBlobs.has(id)) continue;
    const held = await store.serialized.largeValues.open(id);
    if (held === undefined) throw reader.corrupt(size, `${keys[0]} names blob ${id}, which neither the file nor the store holds`);
    await held.close();
  }
  return { header: header as unknown as ExportHeader, entries, types, blobKeys: neededBlobs };
}
