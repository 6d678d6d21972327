/*
 * `npm run demo`: runs the parameter scan, kills it part-way (SIGKILL, as a
 * cluster scheduler or a power cut would), then runs it again: the second run
 * resumes from the last checkpoint instead of starting over. When the store
 * already holds the scan (the demo ran before), nothing is left to compute,
 * so nothing is killed, and the banners say so.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const job = fileURLToPath(new URL('./parameter-scan.ts', import.meta.url));
const killAfter = 8;

/** Runs the scan; with `killAfterComputed`, kills it once that many points were computed. Resolves with whether it was killed. */
function run(title: string, killAfterComputed?: number): Promise<boolean> {
  console.log(`\n=== ${title} ===`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', job], { stdio: ['ignore', 'pipe', 'inherit'] });
    let computed = 0;
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        console.log(line);
        if (line.includes('computed in')) computed += 1;
        if (killAfterComputed !== undefined && computed === killAfterComputed && child.exitCode === null) {
          console.log(`--- killing the job with SIGKILL after ${computed} computed points ---`);
          child.kill('SIGKILL');
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal === 'SIGKILL' || code === 0) resolve(signal === 'SIGKILL');
      else reject(new Error(`the scan failed (exit ${code ?? signal})`));
    });
  });
}

const killed = await run(`Run 1: the job starts; it will be killed with SIGKILL after ${killAfter} computed points`, killAfter);
if (killed) {
  await run('Run 2: the same job, started again, resumes');
  console.log('\nRun it again (npm run demo) and every point is a hit; delete .memostrata to start over.');
} else {
  console.log(`--- the job ended before computing ${killAfter} points (the store already held them): nothing was killed ---`);
  await run('Run 2: the same job again: every point is a hit');
  console.log('\nDelete .memostrata (or the store your MEMOSTRATA_CONFIG names) to see the job killed and resumed.');
}
