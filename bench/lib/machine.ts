import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem, release, platform } from 'node:os';

/** The machine and the code a run measured, for results.json and the docs. */
export interface MachineInfo {
  date: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  /** The 1-, 5- and 15-minute load averages when the run started. */
  loadAtStart: number[];
  commit: string;
  /** Files under src/ that differ from the commit (others edit this tree): the run measured them as they were. */
  uncommittedSrc: string[];
}

export function machineInfo(): MachineInfo {
  return {
    date: new Date().toISOString(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    loadAtStart: loadavg().map((load) => Math.round(load * 100) / 100),
    commit: git(['rev-parse', '--short', 'HEAD']).trim(),
    uncommittedSrc: git(['status', '--porcelain', '--', 'src'])
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => line.slice(3)),
  };
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}
