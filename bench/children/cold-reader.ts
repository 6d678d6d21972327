/**
 * Child process of the cold-restart scenario: opens a store that another
 * process filled and reads every entry once, sequentially.
 *
 * Usage: cold-reader.ts memostrata|memostrata-lmdb|memostrata-primitive|memostrata-idle|open-only|raw|raw-sync|raw-lmdb|verify <store path> <entries>
 * (memostrata: one call per entry with an object argument, then close(), which writes the hit counters;
 * memostrata-lmdb: the same on an LMDB store (backend lmdb);
 * memostrata-primitive: the same calls with primitive arguments only (module bench.cold.primitive);
 * memostrata-idle: opens and closes with no call, the close() a read-only process would have without hits;
 * open-only: opens and closes, to time the open that follows one of the others;
 * raw: classic-level's get, a thread-pool round trip per read; raw-sync: its getSync, as memostrata reads;
 * raw-lmdb: lmdb-js's getBinary (synchronous, as LmdbBackend reads) on a raw LMDB store of the same records;
 * verify: memostrata's store, read into memory first, then only the checks a cold hit makes on what it
 * read, timed alone: the record's checksum and the result's content digest against its UUID.)
 * Prints { openMs, readMs, closeMs, hits } as JSON (verify: readMs is the time of the checks alone).
 */
import { performance } from 'node:perf_hooks';
import { ClassicLevel } from 'classic-level';
import { decode } from 'cbor-x';
import { open as openLmdb } from 'lmdb';
import { defaultTypes, LevelBackend, loadDigester, openCache, SerializedDB, UUIDDatabase, type MemoRecord } from 'memostrata';
// The check the proxy layer makes on every record it reads; not part of the package's API.
import { recordProblem } from '../../dist/layers/memo-record.js';
import { primitiveArgs, smallArgs, work, workPrimitive } from '../scenarios/small-args.js';

const [kind, path, countText] = process.argv.slice(2);
const args = smallArgs(Number(countText));
const encoder = new TextEncoder();

if (kind === 'memostrata' || kind === 'memostrata-lmdb' || kind === 'memostrata-primitive' || kind === 'memostrata-idle' || kind === 'open-only') {
  const primitive = kind === 'memostrata-primitive';
  const module = primitive ? 'bench.cold.primitive' : 'bench.cold';
  const opened = performance.now();
  const store = kind === 'memostrata-lmdb' ? { backend: { type: 'lmdb' as const, path: path as string } } : { path: path as string };
  const cache = await openCache({ ...store, flush: 'manual', handleExit: false });
  const read = performance.now();
  let calls = 0;
  if (kind === 'memostrata' || kind === 'memostrata-lmdb') {
    const memo = cache.memoize(module, work);
    for (const callArgs of args) await memo(...callArgs);
    calls = args.length;
  } else if (primitive) {
    const memo = cache.memoize(module, workPrimitive);
    for (const callArgs of primitiveArgs(args.length)) await memo(...callArgs);
    calls = args.length;
  }
  const done = performance.now();
  const stats = cache.stats().modules[module];
  // A process that only read: close() writes the hit counters of what it served (one c! key per call hit).
  await cache.close();
  const closed = performance.now();
  if (calls > 0 && (stats?.misses !== 0 || stats.hits !== calls)) throw new Error(`expected only hits after restart, got ${stats?.misses} misses`);
  console.log(JSON.stringify({ openMs: read - opened, readMs: done - read, closeMs: closed - done, hits: stats?.hits ?? 0 }));
} else if (kind === 'raw' || kind === 'raw-sync') {
  const opened = performance.now();
  const db = new ClassicLevel<Uint8Array, Uint8Array>(path as string, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  const read = performance.now();
  let hits = 0;
  for (const callArgs of args) {
    const key = encoder.encode(JSON.stringify(callArgs));
    const bytes = kind === 'raw' ? await db.get(key) : db.getSync(key);
    if (bytes !== undefined && decode(bytes) !== undefined) hits += 1;
  }
  const done = performance.now();
  await db.close();
  if (hits !== args.length) throw new Error(`raw store: ${args.length - hits} records missing`);
  console.log(JSON.stringify({ openMs: read - opened, readMs: done - read, hits }));
} else if (kind === 'raw-lmdb') {
  const opened = performance.now();
  // The options LmdbBackend opens with, so that the two differ only by what memostrata does above the store.
  const db = openLmdb<Buffer, Buffer>({ path: path as string, keyEncoding: 'binary', encoding: 'binary', overlappingSync: false });
  const read = performance.now();
  let hits = 0;
  for (const callArgs of args) {
    const bytes = db.getBinary(Buffer.from(encoder.encode(JSON.stringify(callArgs))));
    if (bytes !== undefined && decode(bytes) !== undefined) hits += 1;
  }
  const done = performance.now();
  await db.close();
  if (hits !== args.length) throw new Error(`raw LMDB store: ${args.length - hits} records missing`);
  console.log(JSON.stringify({ openMs: read - opened, readMs: done - read, hits }));
} else if (kind === 'verify') {
  const opened = performance.now();
  const backend = await LevelBackend.open(path as string, { sync: false });
  const serialized = new SerializedDB(backend, { types: defaultTypes });
  const values = new UUIDDatabase(serialized, await loadDigester(defaultTypes));
  const records: MemoRecord[] = [];
  const results: unknown[] = [];
  const prefix = encoder.encode('m!bench.cold!');
  const end = prefix.slice();
  end[end.length - 1]! += 1;
  for await (const [, record] of serialized.entries({ gte: prefix, lt: end })) {
    records.push(record as MemoRecord);
    results.push(await serialized.get(encoder.encode(`v!${(record as MemoRecord).result}`)));
  }
  const read = performance.now();
  let hits = 0;
  for (let i = 0; i < records.length; i += 1) {
    const record = records[i]!;
    if (recordProblem(record, 'bench.cold', record.call, values.digester) === undefined && values.uuidOf(results[i]) === record.result) hits += 1;
  }
  const done = performance.now();
  await serialized.close();
  if (hits !== args.length) throw new Error(`verify: ${args.length - hits} of ${args.length} entries failed their checks`);
  console.log(JSON.stringify({ openMs: read - opened, readMs: done - read, hits }));
} else {
  throw new Error('usage: cold-reader.ts memostrata|memostrata-lmdb|memostrata-primitive|memostrata-idle|open-only|raw|raw-sync|raw-lmdb|verify <path> <entries>');
}
