import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Runs `bench/children/<name>.ts` in a new Node process and returns the JSON
 * it prints as its last line of output. The child runs under tsx's loader
 * (the driver is TypeScript) but imports memostrata from dist/ (`npm run
 * build` at the start of the bench), so the library itself is plain
 * compiled JS, as users run it.
 */
export async function runChild<T>(name: string, args: readonly string[], nodeOptions: readonly string[] = []): Promise<T> {
  const script = fileURLToPath(new URL(`../children/${name}.ts`, import.meta.url));
  const output = await runProcess(process.execPath, [...nodeOptions, '--import', 'tsx', script, ...args]);
  const last = output.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`bench child ${name} printed no JSON result.\nstdout:\n${output.stdout}\nstderr:\n${output.stderr}`);
  }
}

/** Runs a program to completion; rejects with its output when it exits non-zero. */
export function runProcess(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}.\nstdout:\n${stdout.slice(-4000)}\nstderr:\n${stderr.slice(-4000)}`));
    });
  });
}
