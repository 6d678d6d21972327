/** The small-argument workload shared by the hit, Python-peer and scale scenarios. */
export interface Options {
  tol: number;
  maxIter: number;
}

export type SmallArgs = [x: number, basis: string, options: Options];

/** A trivial work function: the benchmarks measure the cache's overhead, not the work. */
export function work(x: number, basis: string, options: Options): { energy: number; basis: string; iterations: number } {
  return { energy: x * 0.5, basis, iterations: options.maxIter };
}

/** `count` distinct small argument lists (three arguments: a number, a string, a small object). */
export function smallArgs(count: number, offset = 0): SmallArgs[] {
  return Array.from({ length: count }, (_, i): SmallArgs => [offset + i + 0.25, 'sto-3g', { tol: 1e-8, maxIter: 50 }]);
}

export type PrimitiveArgs = [x: number, basis: string, tol: number, maxIter: number];

/** {@link work} with the options object spread into primitives: a call-time copy is made of object arguments only, so this is the same call without it. */
export function workPrimitive(x: number, basis: string, tol: number, maxIter: number): { energy: number; basis: string; iterations: number } {
  return work(x, basis, { tol, maxIter });
}

/** The argument lists of {@link smallArgs} with the options object spread into primitives. */
export function primitiveArgs(count: number, offset = 0): PrimitiveArgs[] {
  return smallArgs(count, offset).map(([x, basis, { tol, maxIter }]): PrimitiveArgs => [x, basis, tol, maxIter]);
}
