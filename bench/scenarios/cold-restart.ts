import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { Encoder } from 'cbor-x';
import { open as openLmdb } from 'lmdb';
import { openCache } from 'memostrata';
import { runChild } from '../lib/child.js';
import { result, type Scenario } from '../lib/results.js';
import { interleaved } from '../lib/timing.js';
import { primitiveArgs, smallArgs, work, workPrimitive } from './small-args.js';

interface ReaderOutput {
  openMs: number;
  readMs: number;
  /** memostrata's readers only: the close() after the reads (it writes the hit counters). */
  closeMs?: number;
  hits: number;
}

const medianOf = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

export const coldRestart: Scenario = {
  name: 'cold-restart',
  title: 'Hit after restart: a new process reads every checkpointed entry from LevelDB, and from LMDB',
  async run({ quick, scratch, log }) {
    const entries = quick ? 10_000 : 100_000;
    const repetitions = quick ? 3 : 5;
    const args = smallArgs(entries);

    const memostrataPath = join(scratch, 'cold-memostrata');
    const cache = await openCache({ path: memostrataPath, flush: 'manual', handleExit: false });
    const memo = cache.memoize('bench.cold', work);
    for (const callArgs of args) await memo(...callArgs);
    await cache.close(); // checkpoints

    // The same calls in an LMDB store.
    const lmdbPath = join(scratch, 'cold-memostrata-lmdb');
    const lmdbCache = await openCache({ backend: { type: 'lmdb', path: lmdbPath }, flush: 'manual', handleExit: false });
    // No leases while filling: a leased miss on LMDB is a durable write of its own.
    const lmdbMemo = lmdbCache.memoize('bench.cold', work, { lease: false });
    for (const callArgs of args) await lmdbMemo(...callArgs);
    await lmdbCache.close();

    // The same calls with primitive arguments only, in a store of its own of the same size: the call-time copy
    // (and its re-key) is made for object arguments only, so the difference is what that copy costs a cold hit.
    const primitivePath = join(scratch, 'cold-memostrata-primitive');
    const primitiveCache = await openCache({ path: primitivePath, flush: 'manual', handleExit: false });
    const primitiveMemo = primitiveCache.memoize('bench.cold.primitive', workPrimitive);
    for (const callArgs of primitiveArgs(entries)) await primitiveMemo(...callArgs);
    await primitiveCache.close();

    // The baseline: what a hand-written persistent cache would keep, one record per call:
    // JSON.stringify(args) -> the result as CBOR (records off, as memostrata stores values).
    const rawPath = join(scratch, 'cold-raw');
    const raw = new ClassicLevel<Uint8Array, Uint8Array>(rawPath, { keyEncoding: 'view', valueEncoding: 'view' });
    const cbor = new Encoder({ useRecords: false });
    const text = new TextEncoder();
    await raw.batch(
      args.map((callArgs) => ({ type: 'put' as const, key: text.encode(JSON.stringify(callArgs)), value: cbor.encode(work(...callArgs)) })),
      { sync: true },
    );
    await raw.close();
    // LMDB's own baseline: the same records in a raw LMDB store, opened as LmdbBackend opens it.
    const rawLmdbPath = join(scratch, 'cold-raw-lmdb');
    const rawLmdb = openLmdb<Buffer, Buffer>({ path: rawLmdbPath, keyEncoding: 'binary', encoding: 'binary', overlappingSync: false });
    await rawLmdb.batch(() => {
      for (const callArgs of args) void rawLmdb.put(Buffer.from(text.encode(JSON.stringify(callArgs))), cbor.encode(work(...callArgs)));
    });
    await rawLmdb.close();
    log(`stores written: ${entries.toLocaleString('en-US')} entries each`);

    const opens: Record<string, number[]> = { memostrata: [], 'memostrata-lmdb': [], raw: [], 'raw-sync': [], 'raw-lmdb': [], verify: [], 'memostrata-primitive': [] };
    /** close() of a process that read every entry (it writes one counter key per call hit) and of one that made no call; the open of the process after each. */
    const closes = { hits: [] as number[], idle: [] as number[], lmdbHits: [] as number[] };
    const nextOpens = { hits: [] as number[], idle: [] as number[] };
    type Kind = 'memostrata' | 'memostrata-lmdb' | 'memostrata-primitive' | 'raw' | 'raw-sync' | 'raw-lmdb' | 'verify';
    const reader = (kind: Kind, path: string) => async () => {
      const output = await runChild<ReaderOutput>('cold-reader', [kind, path, String(entries)]);
      opens[kind]?.push(output.openMs);
      if (kind === 'memostrata') {
        closes.hits.push(output.closeMs ?? NaN);
        nextOpens.hits.push((await runChild<ReaderOutput>('cold-reader', ['open-only', path, String(entries)])).openMs);
      }
      if (kind === 'memostrata-lmdb') closes.lmdbHits.push(output.closeMs ?? NaN);
      return entries / (output.readMs / 1000);
    };
    const idle = async () => {
      const output = await runChild<ReaderOutput>('cold-reader', ['memostrata-idle', memostrataPath, String(entries)]);
      closes.idle.push(output.closeMs ?? NaN);
      nextOpens.idle.push((await runChild<ReaderOutput>('cold-reader', ['open-only', memostrataPath, String(entries)])).openMs);
      return output.closeMs ?? NaN;
    };
    const figures = await interleaved(
      [
        { name: 'memostrata', run: reader('memostrata', memostrataPath) },
        { name: 'memostrata-primitive', run: reader('memostrata-primitive', primitivePath) },
        { name: 'raw', run: reader('raw', rawPath) },
        { name: 'raw-sync', run: reader('raw-sync', rawPath) },
        { name: 'memostrata-lmdb', run: reader('memostrata-lmdb', lmdbPath) },
        { name: 'raw-lmdb', run: reader('raw-lmdb', rawLmdbPath) },
        { name: 'verify', run: reader('verify', memostrataPath) },
        { name: 'idle', run: idle },
      ],
      repetitions,
      0, // every repetition is a fresh process; the stores were just written, so the page cache is warm
    );
    const openMedian = (kind: string) => medianOf(opens[kind] ?? []);
    const closeHits = medianOf(closes.hits);
    return {
      results: [
        result({
          scenario: 'cold-restart',
          metric: `read ${entries / 1000}k entries in a new process`,
          unit: 'reads/s',
          value: figures.get('memostrata') as number,
          baselineName: 'classic-level get + cbor decode',
          baseline: figures.get('raw') as number,
          better: 'higher',
          target: '≥ 0.5×',
          targetRatio: 0.5,
        }),
        // memostrata reads with getSync (LevelBackend's syncReads); the same raw reads with getSync, for a like-for-like figure.
        result({
          scenario: 'cold-restart',
          metric: `read ${entries / 1000}k entries in a new process, vs synchronous raw reads`,
          unit: 'reads/s',
          value: figures.get('memostrata') as number,
          baselineName: 'classic-level getSync + cbor decode',
          baseline: figures.get('raw-sync') as number,
          better: 'higher',
        }),
        // Every read from the store is checked (format 2): the record against its checksum, the result against its UUID.
        // Timed alone on the same entries, in µs per hit, against the whole cold hit: the ratio is verification's share of a hit.
        result({
          scenario: 'cold-restart',
          metric: 'verify-on-read (record checksum + result re-digest) per cold hit',
          unit: 'µs/hit',
          value: 1e6 / (figures.get('verify') as number),
          baselineName: 'the whole memostrata cold hit',
          baseline: 1e6 / (figures.get('memostrata') as number),
          better: 'lower',
          note: `without it a cold hit would run at about ${(1 / (1 / (figures.get('memostrata') as number) - 1 / (figures.get('verify') as number)) / (figures.get('raw-sync') as number)).toFixed(2)}× the getSync + decode baseline`,
        }),
        result({
          scenario: 'cold-restart',
          metric: 'cold hit, object argument (call-time copy) vs primitive arguments only',
          unit: 'µs/hit',
          value: 1e6 / (figures.get('memostrata') as number),
          baselineName: 'the same calls with primitive arguments only',
          baseline: 1e6 / (figures.get('memostrata-primitive') as number),
          better: 'lower',
        }),
        result({
          scenario: 'cold-restart',
          metric: `close() after a process that only read ${entries / 1000}k entries (writes their hit counters)`,
          unit: 'ms',
          value: closeHits,
          baselineName: 'close() after a process that made no call',
          baseline: medianOf(closes.idle),
          better: 'lower',
          note: `${((closeHits * 1000) / entries).toFixed(1)} µs per call hit`,
        }),
        result({
          scenario: 'cold-restart',
          metric: `open of the next process after one that read ${entries / 1000}k entries`,
          unit: 'ms',
          value: medianOf(nextOpens.hits),
          baselineName: 'open after a process that made no call',
          baseline: medianOf(nextOpens.idle),
          better: 'lower',
        }),
        result({
          scenario: 'cold-restart',
          metric: `LMDB: read ${entries / 1000}k entries in a new process`,
          unit: 'reads/s',
          value: figures.get('memostrata-lmdb') as number,
          baselineName: 'lmdb-js getBinary + cbor decode',
          baseline: figures.get('raw-lmdb') as number,
          better: 'higher',
        }),
        result({
          scenario: 'cold-restart',
          metric: `LMDB vs LevelDB: memostrata reads ${entries / 1000}k entries in a new process`,
          unit: 'reads/s',
          value: figures.get('memostrata-lmdb') as number,
          baselineName: 'memostrata on LevelDB, same calls',
          baseline: figures.get('memostrata') as number,
          better: 'higher',
        }),
        result({
          scenario: 'cold-restart',
          metric: `LMDB vs LevelDB: close() after reading ${entries / 1000}k entries (hit counters)`,
          unit: 'ms',
          value: medianOf(closes.lmdbHits),
          baselineName: 'the same close() on LevelDB',
          baseline: closeHits,
          better: 'lower',
        }),
      ],
      notes: [
        `cold-restart: each repetition is a new Node process (tsx loader for the driver, memostrata from dist/) that opens the store and awaits one call per entry in turn; ` +
          `open time (median, not in the figure): memostrata ${openMedian('memostrata').toFixed(0)} ms, raw ${openMedian('raw').toFixed(0)} ms; ` +
          `on LMDB memostrata ${openMedian('memostrata-lmdb').toFixed(0)} ms, raw ${openMedian('raw-lmdb').toFixed(1)} ms. ` +
          `The close() of a reading process and the open after it are timed in separate processes (open-only), against a process that opens and closes with no call. ` +
          `Files are in the OS page cache (cold for the process, not for the disk). Median of ${repetitions}.`,
      ],
    };
  },
};
