/** User classes for tests of registered types; each test registers them its own way. */

/** A 2-D point. */
export class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

/** A mesh, holding whatever nodes a test gives it. */
export class Mesh {
  constructor(readonly nodes: unknown) {}
}
