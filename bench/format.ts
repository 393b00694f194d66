/** The benchmark's result as a text table (stdout) and as a markdown section (BENCHMARKS.md). */
import type { BenchCheck, BenchResult, BenchRow } from './types.js';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
export const seconds = (s: number): string => s.toFixed(3);
export const mib = (kb: number): string => `${int(kb / 1024)} MiB`;
const ratio = (r: number | null): string => (r === null ? '—' : r.toFixed(2));

const cells = (result: BenchResult, row: BenchRow): string[] => [
  row.label,
  seconds(row.seconds),
  row.eventsPerSecond === null ? '—' : int(row.eventsPerSecond),
  row.floor ? (result.rows.find((r) => r.id === row.floor)?.short ?? row.floor) : '—',
  ratio(row.ratio),
  mib(row.peakRssKb),
  seconds(row.wallSeconds),
];

const HEADER = ['case', 'seconds', 'events/s', 'floor', 'ratio', 'peak RSS', 'wall s'];

export const checkLine = (c: BenchCheck): string =>
  `${c.status.padEnd(4)} ${c.name} = ${c.figure === null ? '—' : c.figure.toFixed(2)} (target ${c.op} ${c.target})${c.note ? ` — ${c.note}` : ''}`;

/** A plain-text table of the rows, then the target checks. */
export function formatTable(result: BenchResult): string {
  const body = result.rows.map((row) => cells(result, row));
  const widths = HEADER.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 || i === 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    line(HEADER),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...body.map(line),
    '',
    ...result.checks.map(checkLine),
    '',
  ].join('\n');
}

export const MARKDOWN_INTRO = `# Benchmarks

Appended by \`npm run bench -- --events N\` (bench/bench.ts); the raw results are in bench/out/bench-<timestamp>.json.

Each case runs as its own process on the same generated data, one after another. **seconds** is the measured work:
for \`etl\` commands the steps of the run's report.json (so process start-up and opening the warehouse are left
out; they are in **wall s**), for the floors the work their script times (set-up excluded). **ratio** is the
case's time per event over its floor's (below 1 is faster than the floor). **peak RSS** is the process's
maximum resident set (GNU time, threads included); the PostgreSQL server's memory is not in it. The naive
baseline runs on a 1% sample of the events.
`;

/** One run's section for BENCHMARKS.md. */
export function markdownSection(result: BenchResult): string {
  const m = result.machine;
  const d = result.data;
  const rows = result.rows.map((row) => `| ${cells(result, row).map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`);
  return [
    `## ${result.startedAt.slice(0, 16).replace('T', ' ')} UTC — ${int(d.events)} events`,
    '',
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}; Node ${m.node}; PostgreSQL ${m.postgres}`,
    `- Commit: ${result.commit}`,
    `- Command: \`${result.command}\``,
    `- Data: ${int(d.events)} events in ${d.logFiles} log files (${(d.logBytes / 1024 ** 2).toFixed(1)} MiB), ${int(d.songs)} songs, seed ${d.seed}`,
    ...(result.skipped.length ? [`- Skipped: ${result.skipped.join(', ')}`] : []),
    '',
    `| ${HEADER.join(' | ')} |`,
    `| ${HEADER.map((_, i) => (i === 0 || i === 3 ? '---' : '---:')).join(' | ')} |`,
    ...rows,
    '',
    'Targets:',
    '',
    ...result.checks.map((c) => `- ${checkLine(c).replace(/^(\S+)\s+/, '**$1** ')}`),
    '',
  ].join('\n');
}
