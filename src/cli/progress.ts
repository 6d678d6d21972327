import type { WriteStream } from 'node:tty';
import { Presets, SingleBar } from 'cli-progress';

/** Progress of one long step, shown on stderr. */
export interface Progress {
  /** Sets the total, once known. */
  setTotal(total: number): void;
  /** Sets how much is done. */
  update(done: number): void;
  /** Adds to how much is done. */
  increment(by?: number): void;
  /** Removes the bar. Safe to call more than once. */
  stop(): void;
}

/** The bar appears only for work that takes longer than this. */
const SHOW_AFTER_MS = 1000;

/** A progress sink that shows nothing. */
export const noProgress: Progress = { setTotal() {}, update() {}, increment() {}, stop() {} };

/**
 * Starts tracking a step. A bar is drawn on stderr only when stderr is a
 * terminal and the step is still running after a second; otherwise nothing
 * is written, so pipes, logs and `--json` consumers never see it.
 */
export function startProgress(label: string, total?: number, stream: WriteStream = process.stderr): Progress {
  if (stream.isTTY !== true) return noProgress;
  let knownTotal = total;
  let done = 0;
  let bar: SingleBar | undefined;
  let stopped = false;
  const timer = setTimeout(() => {
    if (stopped) return;
    bar = new SingleBar(
      {
        stream,
        format: knownTotal === undefined ? `${label} {value}` : `${label} [{bar}] {percentage}% {value}/{total} eta {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 50,
      },
      Presets.shades_classic,
    );
    bar.start(knownTotal ?? 0, done);
  }, SHOW_AFTER_MS);
  // The bar never keeps the process alive.
  timer.unref();
  return {
    setTotal(newTotal) {
      knownTotal = newTotal;
      bar?.setTotal(newTotal);
    },
    update(value) {
      done = value;
      bar?.update(value);
    },
    increment(by = 1) {
      done += by;
      bar?.update(done);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      bar?.stop();
    },
  };
}
