// What one benchmark area reports: rows of figures, each optionally with its aim and verdict.
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  aim?: string;
  met?: boolean;
}

export interface BenchSection {
  title: string;
  /** ISO date of the run. */
  measuredAt: string;
  notes?: string;
  /** 1-minute load average before and after the area ran (set by bench/run.ts): noisy figures show. */
  loadAverage?: [number, number];
  rows: BenchRow[];
}
