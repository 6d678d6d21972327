import type { Writable } from 'node:stream';
import type { ProgressCallback } from '../maintenance/common.js';
import type { EmbeddedKind } from '../maintenance/store-kind.js';
import { resolveStore, type CliStoreConfig, type StoreOptions } from './open-store.js';
import { startProgress } from './progress.js';

/** The options every command takes. */
export interface GlobalOptions extends StoreOptions {
  /** Machine-readable output on stdout. */
  json?: boolean;
  /** Stack traces on errors. */
  debug?: boolean;
}

/** What a command runs with: its options and its output streams. */
export class CommandContext {
  readonly options: GlobalOptions;
  readonly #stdout: Writable;

  constructor(options: GlobalOptions, stdout: Writable = process.stdout) {
    this.options = options;
    this.#stdout = stdout;
  }

  /** Whether output is JSON. */
  get json(): boolean {
    return this.options.json === true;
  }

  /**
   * The store named by a positional argument, `--store`, `--config`,
   * `MEMOSTRATA_CONFIG` or the default; a path not holding a store yet names
   * one of `newKind`.
   */
  store(path?: string, newKind: EmbeddedKind = 'level'): CliStoreConfig {
    return resolveStore(this.options, path, process.env, newKind);
  }

  /** Prints text (a line break is added). */
  print(text: string): void {
    this.#stdout.write(`${text}\n`);
  }

  /** Prints one JSON document. */
  printJson(value: unknown): void {
    this.#stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /**
   * Runs a maintenance step with a progress bar on stderr (shown only on a
   * terminal, for work still running after a second).
   */
  async withProgress<T>(label: string, work: (onProgress: ProgressCallback) => Promise<T>): Promise<T> {
    const progress = startProgress(label);
    try {
      return await work((done, total) => {
        if (total !== undefined) progress.setTotal(total);
        progress.update(done);
      });
    } finally {
      progress.stop();
    }
  }
}
