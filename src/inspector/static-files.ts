import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { CLIENT_SCRIPT } from './assets/client.js';
import { STYLE } from './assets/style.js';

/*
 * The static files: a fixed table of names, so no request path ever reaches
 * the file system (nothing to traverse). The chart library (uPlot) is read
 * from the package's own dependencies: the inspector works offline.
 */

/** A static file's type and bytes. */
export interface StaticFile {
  contentType: string;
  body: Buffer;
}

const require = createRequire(import.meta.url);

function fromPackage(specifier: string, contentType: string): () => StaticFile {
  let file: StaticFile | undefined;
  return () => (file ??= { contentType, body: readFileSync(require.resolve(specifier)) });
}

const files: ReadonlyMap<string, () => StaticFile> = new Map([
  ['inspector.js', () => ({ contentType: 'text/javascript; charset=utf-8', body: Buffer.from(CLIENT_SCRIPT) })],
  ['inspector.css', () => ({ contentType: 'text/css; charset=utf-8', body: Buffer.from(STYLE) })],
  ['uPlot.iife.min.js', fromPackage('uplot/dist/uPlot.iife.min.js', 'text/javascript; charset=utf-8')],
  ['uPlot.min.css', fromPackage('uplot/dist/uPlot.min.css', 'text/css; charset=utf-8')],
]);

/** The static file called `name`, or `undefined` when there is none. */
export function staticFile(name: string): StaticFile | undefined {
  return files.get(name)?.();
}
