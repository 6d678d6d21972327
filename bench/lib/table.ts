import type { BenchResult } from './results.js';

/** A number with three significant digits, without exponent notation for the usual range. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude >= 1000) return Math.round(value).toLocaleString('en-US');
  if (magnitude >= 100) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  if (magnitude >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

/** The results as a Markdown table (readable in a terminal, pasted as is into docs/benchmarks.md). */
export function markdownTable(results: readonly BenchResult[]): string {
  const header = ['scenario', 'metric', 'memostrata', 'baseline', 'ratio', 'target'];
  const rows = results.map((r) => [
    r.scenario,
    r.metric,
    `${formatNumber(r.value)} ${r.unit}`,
    `${formatNumber(r.baseline)} ${r.unit} (${r.baselineName})`,
    `${r.ratio.toFixed(2)}×${r.better === 'lower' ? ' cost' : ' speed'}`,
    r.target === undefined ? '' : `${r.target}: ${r.met === true ? 'met' : 'not met'}`,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] as string).length)));
  const line = (cells: readonly string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column] as number)).join(' | ')} |`;
  return [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
