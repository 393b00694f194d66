/** The benchmark's result as a text table (stdout) and as a markdown section (BENCHMARKS.md). */
import type { BenchCheck, BenchResult, BenchRow, Spread } from './types.js';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
export const seconds = (s: number): string => s.toFixed(3);
export const mib = (kb: number): string => `${int(kb / 1024)} MiB`;
const ratio = (r: number | null): string => (r === null ? '—' : r.toFixed(2));
const range = (s: Spread | null, digits: number, scale = 1): string =>
  s === null ? '—' : `${(s.min / scale).toFixed(digits)}–${(s.max / scale).toFixed(digits)}`;

const cells = (result: BenchResult, row: BenchRow): string[] => [
  row.label,
  seconds(row.seconds),
  range(row.secondsSpread, 3),
  row.eventsPerSecond === null ? '—' : int(row.eventsPerSecond),
  row.floor ? (result.rows.find((r) => r.id === row.floor)?.short ?? row.floor) : '—',
  ratio(row.ratio),
  range(row.ratioSpread, 2),
  row.peakRssKb > 0 ? mib(row.peakRssKb) : '—',
  row.peakRssKb > 0 ? range(row.peakRssSpread, 0, 1024) : '—',
  seconds(row.wallSeconds),
];

const HEADER = ['case', 'seconds', 'min–max s', 'events/s', 'floor', 'ratio', 'min–max', 'peak RSS', 'min–max MiB', 'wall s'];
/** Left-aligned columns: the case and its floor. */
const TEXT_COLUMNS = new Set([0, 4]);

const figure = (c: BenchCheck): string => {
  if (c.figure === null) return '—';
  if (c.unit === 'x') return `${c.figure.toFixed(2)}x`;
  return `${Math.abs(c.figure) >= 100 ? int(c.figure) : c.figure.toFixed(2)} ${c.unit}`;
};
const target = (c: BenchCheck): string => `${c.op} ${c.unit === 'x' ? `${c.target}x` : `${c.target.toLocaleString('en-US')} ${c.unit}`}`;

export const checkLine = (c: BenchCheck): string => `${c.status.padEnd(6)} ${c.name} = ${figure(c)} (target ${target(c)})${c.margin ? `, ${c.margin}` : ''}${c.note ? ` — ${c.note}` : ''}`;

/** What every result says about how it was taken. */
const notes = (result: BenchResult): string[] => [
  `${result.repeat} round${result.repeat === 1 ? '' : 's'}: each runs every case once; seconds, events/s and peak RSS are medians, ratios the median of the per-round ratios.`,
  `The naive baselines run on a 1/${result.naiveSampleEvery} sample of the events (they are slow); their events/s is over that sample.`,
  ...Object.entries(result.unavailable).map(([id, why]) => `Not run: ${id}: ${why}.`),
];

/** A plain-text table of the rows, then the target checks. */
export function formatTable(result: BenchResult): string {
  const body = result.rows.map((row) => cells(result, row));
  const widths = HEADER.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (TEXT_COLUMNS.has(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), '', ...notes(result), '', ...result.checks.map(checkLine), ''].join('\n');
}

export const MARKDOWN_INTRO = `# Benchmarks

Appended by \`npm run bench -- --events N\` (bench/bench.ts); the raw results are in bench/out/bench-<timestamp>.json.

Each case runs as its own process on the same generated data, one after another, in rounds (\`--repeat\`, 3 by
default): **seconds** is the median of the measured work: for \`etl\` steps the step's time in the run's
report.json, for a whole process (\`etl run\`, \`etl extract\`'s process row) its wall time, for the floors the
work their script times (set-up excluded). **ratio** is the case's time per event over its floor's, taken
round by round, the median shown with its spread (below 1 is faster than the floor). **peak RSS** is the
process's maximum resident set (GNU time, threads included); the PostgreSQL server's memory is not in it. The
naive baselines run on a 1% sample of the events.
`;

const escape = (c: string) => c.replaceAll('|', '\\|');

/** One run's section for BENCHMARKS.md. */
export function markdownSection(result: BenchResult): string {
  const m = result.machine;
  const d = result.data;
  const rows = result.rows.map((row) => `| ${cells(result, row).map(escape).join(' | ')} |`);
  return [
    `## ${result.startedAt.slice(0, 16).replace('T', ' ')} UTC — ${int(d.events)} events`,
    '',
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}; Node ${m.node}; PostgreSQL ${m.postgres}`,
    `- Commit: ${result.commit}`,
    `- Command: \`${result.command}\``,
    `- Data: ${int(d.events)} events in ${d.logFiles} log files (${(d.logBytes / 1024 ** 2).toFixed(1)} MiB), ${int(d.songs)} songs, seed ${d.seed}`,
    ...(result.skipped.length ? [`- Skipped: ${result.skipped.join(', ')}`] : []),
    ...notes(result).map((n) => `- ${n}`),
    '',
    `| ${HEADER.join(' | ')} |`,
    `| ${HEADER.map((_, i) => (TEXT_COLUMNS.has(i) ? '---' : '---:')).join(' | ')} |`,
    ...rows,
    '',
    'Targets (issue 12):',
    '',
    '| target | median | goal | verdict | note |',
    '| --- | ---: | ---: | --- | --- |',
    ...result.checks.map((c) => `| ${escape(c.name)} | ${figure(c)} | ${escape(target(c))} | **${c.status}**${c.margin ? ` ${c.margin.replace(/^(met with|missed by) /, '')}` : ''} | ${escape(c.note ?? '')} |`),
    '',
  ].join('\n');
}
