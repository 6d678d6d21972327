import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { describe, it } from 'vitest';
import { cliPath } from '../cli/cli-helpers.js';

/** Debian's chromium, as `.ci/run` installs it, or `undefined` when it is missing. */
export const chromiumPath: string | undefined = (() => {
  const found = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path !== '' ? path : undefined;
})();

/**
 * `describe` for tests that drive a browser. Without chromium, CI (where
 * `.ci/run` installs it) fails loudly; a developer's run skips with a note.
 */
export function describeWithChromium(name: string, body: () => void): void {
  if (chromiumPath !== undefined) {
    describe(name, body);
  } else if (process.env.CI) {
    describe(name, () => {
      it('needs chromium, which CI installs', () => {
        throw new Error('chromium is not installed, but CI must run the browser tests: see the apt-get line in .ci/run.');
      });
    });
  } else {
    describe.skip(`${name} (skipped: chromium is not installed; apt-get install -y chromium)`, body);
  }
}

/** A running `memostrata serve`. */
export interface Serving {
  /** The URL it printed, with the token. */
  readonly url: string;
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  readonly token: string;
  /** What it wrote to stderr so far. */
  stderr(): string;
  /** Stops it with SIGTERM and resolves with its exit code. */
  stop(): Promise<number | null>;
}

/** What a `serve` that did not start printed. */
export interface ServeFailure {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node dist/cli/main.js serve --port 0 ...args` and resolves once it
 * printed its URL; rejects with a {@link ServeFailure} when it exits first.
 */
export function startServe(args: readonly string[]): Promise<Serving> {
  const child: ChildProcess = spawn(process.execPath, [cliPath, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const url = /open (http:\/\/\S+)/.exec(stdout)?.[1];
      if (url === undefined) return;
      const parsed = new URL(url);
      resolve({
        url,
        origin: parsed.origin,
        token: parsed.searchParams.get('token')!,
        stderr: () => stderr,
        stop: () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    });
    void exited.then((code) => reject(Object.assign(new Error(`serve exited (${code}) before printing its URL: ${stderr}`), { code, stdout, stderr } satisfies ServeFailure)));
  });
}
