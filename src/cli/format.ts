import { CliError } from './errors.js';

/*
 * Human formats for sizes, durations, dates and tables, and the parsers for
 * the sizes and durations the user types. Sizes are binary both ways
 * (1 KB = 1 KiB = 1024 bytes), so what `ls` prints can be typed back.
 */

const sizeUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** `512 B`, `1.5 KiB`, `3.2 GiB`. */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return '?';
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < sizeUnits.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${sizeUnits[unit]}`;
}

/** `850 ms`, `4.2 s`, `3.5 min`, `2.1 h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${oneDecimal(seconds)} s`;
  const minutes = seconds / 60;
  if (minutes < 60) return `${oneDecimal(minutes)} min`;
  return `${oneDecimal(minutes / 60)} h`;
}

function oneDecimal(value: number): string {
  return value < 10 ? value.toFixed(1) : String(Math.round(value));
}

/** A local date and time to the second, `2025-03-14 09:26:53`; `never` for 0. */
export function formatTime(epochMs: number): string {
  if (epochMs === 0 || !Number.isFinite(epochMs)) return 'never';
  const date = new Date(epochMs);
  const two = (n: number): string => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`
  );
}

/** An ISO 8601 timestamp for JSON output; `null` for 0 (never). */
export function isoTime(epochMs: number): string | null {
  return epochMs === 0 || !Number.isFinite(epochMs) ? null : new Date(epochMs).toISOString();
}

const sizeFactors: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/**
 * Parses `2GB`, `500 MiB`, `1.5g`, `4096` into bytes (binary units).
 *
 * @throws CliError (exit 2) naming `option`.
 */
export function parseSize(text: string, option: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const factor = match === null ? undefined : sizeFactors[match[2]!.toLowerCase()];
  if (match === null || factor === undefined) {
    throw new CliError(`${option} takes a size such as 500MB, 2GB or 4096 (bytes); got '${text}'`);
  }
  return Math.round(Number(match[1]) * factor);
}

const durationFactors: Record<string, number> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/**
 * Parses `30d`, `12h`, `90min`, `45s`, `500ms`, `2w` into milliseconds.
 *
 * @throws CliError (exit 2) naming `option`.
 */
export function parseDuration(text: string, option: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(text);
  const factor = match === null ? undefined : durationFactors[match[2]!.toLowerCase()];
  if (match === null || factor === undefined) {
    throw new CliError(`${option} takes a duration such as 30d, 12h, 90min, 45s or 500ms; got '${text}'`);
  }
  return Number(match[1]) * factor;
}

/** How a table column is aligned. */
export type Align = 'left' | 'right';

/** A column of {@link formatTable}. */
export interface Column {
  header: string;
  align?: Align;
}

/** Rows under a header, columns padded to their widest cell, two spaces apart. */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((column, index) => Math.max(column.header.length, ...rows.map((row) => (row[index] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    columns
      .map((column, index) => {
        const cell = cells[index] ?? '';
        return column.align === 'right' ? cell.padStart(widths[index]!) : cell.padEnd(widths[index]!);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => column.header)), ...rows.map(line)].join('\n');
}

/** `1 call`, `3 calls`. */
export function plural(count: number, one: string, many: string): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? one : many}`;
}
