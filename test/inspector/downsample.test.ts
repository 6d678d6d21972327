import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Downsampler } from '../../src/cli/summarize.js';

/*
 * The downsample the inspector plots is gathered a window at a time from a
 * stored array: however the array is cut into windows, the buckets must be
 * those of the whole array seen at once.
 */

function whole(values: number[], buckets: number) {
  const downsampler = new Downsampler(values.length, buckets);
  downsampler.add(values, 0);
  return downsampler.result();
}

describe('Downsampler', () => {
  it('gives the same buckets whatever windows the array is read in, and in whatever order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), fc.constant(Number.NaN)), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.boolean(),
        (values, buckets, cuts, reversed) => {
          const bounds = [...new Set([0, ...cuts.map((cut) => cut % values.length), values.length])].sort((a, b) => a - b);
          const windows = bounds.slice(1).map((end, index) => [bounds[index]!, end] as const);
          const downsampler = new Downsampler(values.length, buckets);
          for (const [start, end] of reversed ? windows.reverse() : windows) downsampler.add(values.slice(start, end), start);
          const expected = whole(values, buckets);
          const got = downsampler.result();
          expect(got.x).toEqual(expected.x);
          expect(got.min).toEqual(expected.min);
          expect(got.max).toEqual(expected.max);
          got.mean.forEach((mean, bucket) => (mean === null ? expect(expected.mean[bucket]).toBeNull() : expect(mean).toBeCloseTo(expected.mean[bucket]!, 6)));
        },
      ),
    );
  });

  it('makes each bucket the min, max and mean of its consecutive elements, NaN left out', () => {
    const { x, min, max, mean } = whole([1, 5, Number.NaN, 2, 8, Number.NaN, Number.NaN], 3);
    expect(x).toEqual([0, 2, 4]);
    expect(min).toEqual([1, 2, 8]);
    expect(max).toEqual([5, 2, 8]);
    expect(mean).toEqual([3, 2, 8]);
  });

  it('leaves a bucket nothing was read from null, and has no more buckets than elements', () => {
    const downsampler = new Downsampler(10, 5);
    downsampler.add([7, 9], 4);
    expect(downsampler.result()).toEqual({ x: [0, 2, 4, 6, 8], min: [null, null, 7, null, null], max: [null, null, 9, null, null], mean: [null, null, 8, null, null] });
    expect(whole([1, 2, 3], 400).x).toEqual([0, 1, 2]);
  });
});
