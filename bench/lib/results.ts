/** One figure of the benchmark: a value and the baseline it is compared with, measured in the same run. */
export interface BenchResult {
  /** Scenario name, such as `hit-memory`. */
  scenario: string;
  /** What is measured, such as `memostrata (memory backend) vs Map`. */
  metric: string;
  /** Unit of `value` and `baseline` (`µs/hit`, `ops/s`, `ms`, `MB/s`, `MB`). */
  unit: string;
  value: number;
  /** What the baseline is, such as `Map + JSON.stringify`. */
  baselineName: string;
  baseline: number;
  /**
   * `value / baseline` for costs (lower is better) or throughputs (higher is
   * better); `better` says which.
   */
  ratio: number;
  better: 'lower' | 'higher';
  /** The target on the ratio, when the issue sets one, such as `≤ 2`. */
  target?: string;
  /** Whether the target is met (only with `target`). */
  met?: boolean;
  /** Anything a reader needs to read the figure right. */
  note?: string;
}

/** What a scenario returns. */
export interface ScenarioOutcome {
  results: BenchResult[];
  /** Set when the scenario could not run here (for example a missing Python package), with the reason. */
  skipped?: string;
  /** Remarks printed under the table. */
  notes?: string[];
}

/** What every scenario receives. */
export interface ScenarioContext {
  quick: boolean;
  /** A scratch directory of this run, removed at the end. */
  scratch: string;
  log: (message: string) => void;
}

export interface Scenario {
  name: string;
  title: string;
  run(context: ScenarioContext): Promise<ScenarioOutcome>;
}

/** Builds a result, computing the ratio and, with a target, whether it is met. */
export function result(fields: Omit<BenchResult, 'ratio' | 'met'> & { targetRatio?: number }): BenchResult {
  const { targetRatio, ...rest } = fields;
  const ratio = fields.value / fields.baseline;
  const out: BenchResult = { ...rest, ratio };
  if (targetRatio !== undefined) out.met = fields.better === 'lower' ? ratio <= targetRatio : ratio >= targetRatio;
  return out;
}
