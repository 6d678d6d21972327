import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/cache/store.js';
import { openCliStore } from '../../src/cli/open-store.js';
import { openCache } from '../../src/index.js';
import { startInspector, type Inspector } from '../../src/inspector/server.js';
import type { OpenedValue, StoredSegment } from '../../src/layers/serialized-db.js';
import { findRecords } from '../../src/maintenance/inventory.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

/*
 * The entry page of a result stored as a blob: its large array is summarised
 * and downsampled where it is stored, read a window at a time (or a sample
 * of windows), and the value is never loaded whole.
 */

const LENGTH = 1_200_000; // 9.6 MB: a blob, and more than one 8 MiB window
const PERIOD = 100_003;
const SPIKE_AT = 777_777;
const NAN_AT = 5;
const BUCKETS = 400;
const WINDOW_BYTES = 8 * 1024 * 1024;

/** A sawtooth whose teeth do not line up with the buckets, one spike, and one NaN. */
function signal(): Float64Array {
  const values = new Float64Array(LENGTH);
  for (let index = 0; index < LENGTH; index += 1) values[index] = index % PERIOD;
  values[SPIKE_AT] = 1e9;
  values[NAN_AT] = Number.NaN;
  return values;
}

/** Bucket `b` holds elements floor(b·L/B) up to the next bucket's start: each bucket's min and max, straight from the array. */
function expectedBuckets(values: Float64Array): { x: number[]; min: number[]; max: number[] } {
  const x: number[] = [];
  const min: number[] = [];
  const max: number[] = [];
  for (let bucket = 0; bucket < BUCKETS; bucket += 1) {
    const start = Math.floor((bucket * LENGTH) / BUCKETS);
    const end = Math.floor(((bucket + 1) * LENGTH) / BUCKETS);
    const items = [...values.subarray(start, end)].filter((item) => !Number.isNaN(item));
    x.push(start);
    min.push(Math.min(...items));
    max.push(Math.max(...items));
  }
  return { x, min, max };
}

let store: Store;
let inspector: Inspector;
let sampling: Inspector;
let call: string;
let resultUuid: string;
/** Byte counts of every segment read, while a test records them. */
let reads: number[] = [];
let loadsOfResult = 0;
let internalErrors: unknown[] = [];

beforeAll(async () => {
  const path = join(tempDir('memostrata-inspector-large-'), 'store');
  const cache = await openCache({ path, flush: 'manual', handleExit: false });
  await cache.memoize('signal', (_seed: number) => ({ samples: signal(), unit: 'mV' }))(1);
  await cache.close();
  store = await openCliStore({ type: 'level', path }, 'existing');
  const [record] = await findRecords(store, 'signal', '');
  call = record!.call;
  resultUuid = record!.result!;
  // Loading the result whole is what the page must never do; every part read is counted.
  const values = store.values;
  const load = values.load.bind(values);
  values.load = (uuid: string) => {
    if (uuid === resultUuid) loadsOfResult += 1;
    return load(uuid);
  };
  const open = values.open.bind(values);
  values.open = async (uuid: string): Promise<OpenedValue> => {
    const opened = await open(uuid);
    const segments = new Map<ArrayBufferView, StoredSegment>();
    for (const [standIn, segment] of opened.segments) {
      segments.set(standIn, { type: segment.type, bytes: segment.bytes, read: (start, end) => (reads.push(end - start), segment.read(start, end)) });
    }
    return { ...opened, segments };
  };
  const onInternalError = (error: unknown) => internalErrors.push(error);
  inspector = await startInspector(store, { onInternalError });
  sampling = await startInspector(store, { onInternalError, fullReadBytes: 1024 * 1024 });
});

afterAll(async () => {
  await inspector?.close();
  await sampling?.close();
  await store?.proxy.close();
  removeTempDirs();
});

async function entry(server: Inspector, query = ''): Promise<any> {
  reads = [];
  const response = await fetch(`${server.origin}/api/modules/signal/entries/${call}${query}`, { headers: { 'x-memostrata-token': server.token } });
  expect(response.status).toBe(200);
  return response.json();
}

describe('the entry of a result stored as a blob', () => {
  it('summarises its array with the right figures and a 400-bucket min/max downsample, read in windows and never loaded whole', async () => {
    const body = await entry(inspector);
    const values = signal();
    const counted = [...values].filter((item) => !Number.isNaN(item));
    const mean = counted.reduce((sum, item) => sum + item, 0) / counted.length;
    expect(body.result.summary).toEqual({
      samples: { $type: 'Float64Array', length: LENGTH, first: [0, 1, 2, 3, 4], min: 0, max: 1e9, mean, nanCount: 1, truncated: true },
      unit: 'mV',
    });
    const [plot] = body.result.plots;
    expect(body.result.plots).toHaveLength(1);
    expect(plot).toMatchObject({ path: '.samples', type: 'Float64Array', length: LENGTH, min: 0, max: 1e9, mean });
    const expected = expectedBuckets(values);
    expect(plot.x).toEqual(expected.x);
    expect(plot.yMin).toEqual(expected.min);
    expect(plot.yMax).toEqual(expected.max);
    expect(plot.y).toHaveLength(BUCKETS);
    expect(plot.read).toEqual({ windows: 2, bytesRead: LENGTH * 8, bytes: LENGTH * 8, sampled: false });
    // One pass of windows of at most 8 MiB, every byte read once, and no whole load.
    expect(Math.max(...reads)).toBeLessThanOrEqual(WINDOW_BYTES);
    expect(reads.reduce((sum, bytes) => sum + bytes, 0)).toBe(LENGTH * 8);
    expect(loadsOfResult).toBe(0);
  });

  it('is summarised from a sample of windows, one per bucket, when the array is over fullReadBytes, and read whole with ?full=1', async () => {
    const expected = expectedBuckets(signal());
    const sampled = (await entry(sampling)).result;
    const [plot] = sampled.plots;
    expect(plot.read).toMatchObject({ windows: BUCKETS, bytes: LENGTH * 8, sampled: true });
    expect(plot.read.bytesRead).toBeLessThan(LENGTH * 8);
    expect(reads).toHaveLength(BUCKETS);
    expect(reads.reduce((sum, bytes) => sum + bytes, 0)).toBe(plot.read.bytesRead);
    expect(sampled.summary.samples.sampled).toEqual({ windows: BUCKETS, elements: plot.read.bytesRead / 8 });
    // Every bucket has values, from within the bucket: bounded by the whole bucket's min and max.
    plot.yMin.forEach((low: number, bucket: number) => expect(low).toBeGreaterThanOrEqual(expected.min[bucket]!));
    plot.yMax.forEach((high: number, bucket: number) => expect(high).toBeLessThanOrEqual(expected.max[bucket]!));
    expect(sampled.summary.samples.first).toEqual([0, 1, 2, 3, 4]);

    const full = await entry(sampling, '?full=1');
    expect(full.full).toBe(true);
    expect(full.result.plots[0].read).toEqual({ windows: 2, bytesRead: LENGTH * 8, bytes: LENGTH * 8, sampled: false });
    expect(full.result.plots[0].yMax).toEqual(expected.max);
    expect(full.result.summary.samples.sampled).toBeUndefined();
    expect(loadsOfResult).toBe(0);
  });

  it('answers 400 to a full that is not 1 or 0, and to an unknown parameter', async () => {
    for (const query of ['?full=yes', '?full=1&full=1', '?fully=1']) {
      const response = await fetch(`${inspector.origin}/api/modules/signal/entries/${call}${query}`, { headers: { 'x-memostrata-token': inspector.token } });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('full') } });
    }
    expect(internalErrors).toEqual([]);
  });
});
