#!/usr/bin/env node
/*
 * The `memostrata` command (package.json "bin"). Everything it does is in
 * program.ts; this file only runs it and ends the process with its exit code.
 */
import { readFileSync } from 'node:fs';
import { run } from './program.js';

// A reader that stops early (`memostrata ls | head`) closes the pipe: that is not an error.
process.stdout.on('error', (error: Error & { code?: string }) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
process.exitCode = await run(process.argv.slice(2), version);
