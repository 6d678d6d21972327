import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/program.js';

// A bug inside a command: an error memostrata did not throw on purpose.
vi.mock('../../src/cli/commands/info.js', () => ({
  infoCommand: (program: import('commander').Command) => {
    program.command('info').action(() => {
      throw new TypeError('something.forInstance is not a function');
    });
  },
}));

/** A stream that keeps what is written to it. */
function collector(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return Object.assign(stream, { text: () => chunks.join('') });
}

describe('an unexpected error', () => {
  it('exits 2 with code INTERNAL in the --json document, and points to --debug on stderr', async () => {
    const stdout = collector();
    const stderr = collector();
    const code = await run(['info', '--json'], '0.0.0', { stdout, stderr });
    expect(code).toBe(2);
    expect(JSON.parse(stdout.text())).toEqual({ error: { code: 'INTERNAL', message: 'something.forInstance is not a function', exitCode: 2 } });
    expect(stderr.text()).toBe('memostrata: something.forInstance is not a function\nmemostrata: (unexpected error; run again with --debug for the stack trace)\n');
  });
});
