/**
 * The table's rows and the issue's targets, from the cases' samples. Ratios are taken round by round (each
 * round runs every case once, one after another) and the median of those is reported: a single run's
 * ratio says little when the floor itself moves by 10% between runs.
 */
import { median, round, spread } from './stats.js';
import type { BenchCheck, BenchRow, CaseId, CaseResult, Spread } from './types.js';

/** A row before its ratio: the seconds of each round. */
interface RawRow extends Omit<BenchRow, 'ratio' | 'ratioSpread' | 'seconds' | 'secondsSpread' | 'eventsPerSecond'> {
  readonly perRound: readonly number[];
  /** Not an events row (a songs step, the initdb case): no events/s. */
  readonly noRate?: boolean;
}

const stepOf = (steps: CaseResult['samples'][number]['steps'], pick: (name: string) => boolean): number =>
  (steps ?? []).filter((s) => pick(s.name)).reduce((a, s) => a + s.seconds, 0);

/** Reference figures of issue 12 (1M events, this machine kind) and its targets. */
export const ISSUE_12 = {
  /** `etl run` on PostgreSQL at 1M before the second round of speed work. */
  pgRunEventsPerSecond: 33_000,
  targetScale: 1_000_000,
  pgRssScale: 10_000_000,
} as const;

export function buildRows(cases: Partial<Record<CaseId, CaseResult>>): BenchRow[] {
  const raw: RawRow[] = [];
  interface Part {
    id?: string;
    label?: string;
    short: string;
    /** Seconds of one sample (default: the sample's own). */
    pick?: (s: CaseResult['samples'][number]) => number;
    floor: string | null;
    noRate?: boolean;
  }
  const add = (c: CaseResult, part: Part) => {
    const rss = c.samples.map((s) => s.peakRssKb);
    raw.push({
      id: part.id ?? c.id,
      case: c.id,
      label: part.label ?? c.label,
      short: part.short,
      events: part.noRate ? 0 : c.events,
      floor: part.floor,
      peakRssKb: round(median(rss)),
      peakRssSpread: spread(rss),
      wallSeconds: c.wallSeconds,
      perRound: c.samples.map((s) => round(part.pick ? part.pick(s) : s.seconds)),
      noRate: part.noRate,
    });
  };
  const step = (name: string) => (s: CaseResult['samples'][number]) => stepOf(s.steps, (n) => n === name);
  const kindRows = (c: CaseResult, prefix: string, short: string, floor: string | null, songsFloor: string | null) => {
    add(c, { id: `${c.id}:events`, label: `${c.label}: ${prefix} events`, short: `${short} events`, pick: step(`${prefix} events`), floor });
    // Songs are counted in objects, not events: no events/s; against the songs floor, seconds against seconds.
    add(c, { id: `${c.id}:songs`, label: `${c.label}: ${prefix} songs`, short: `${short} songs`, pick: step(`${prefix} songs`), floor: songsFloor, noRate: true });
  };
  const runRows = (c: CaseResult | undefined, engine: string, copyFloor: string, totalFloor: string) => {
    if (!c) return;
    kindRows(c, 'extract+stage', engine, copyFloor, null);
    add(c, { id: `${c.id}:transform`, label: `${c.label}: transform`, short: `${engine} transform`, pick: step('transform'), floor: null });
    add(c, { id: `${c.id}:check`, label: `${c.label}: quality checks`, short: `${engine} checks`, pick: step('check'), floor: null });
    add(c, { id: `${c.id}:total`, label: `${c.label}: whole process`, short: `${engine} run`, floor: totalFloor });
  };
  const floorSum = (): void => {
    const events = cases.readline;
    const songs = cases['songs-floor'];
    if (!events || !songs) return;
    const n = Math.min(events.samples.length, songs.samples.length);
    const perRound = Array.from({ length: n }, (_, i) => round(events.samples[i]!.seconds + songs.samples[i]!.seconds));
    const rss = [...events.samples, ...songs.samples].map((s) => s.peakRssKb);
    raw.push({
      id: 'floors:events+songs',
      case: 'readline',
      label: 'floor: readline (events) + songs floor, added up',
      short: 'events + songs floors',
      events: events.events,
      floor: null,
      peakRssKb: round(Math.max(...rss)),
      peakRssSpread: spread(rss),
      wallSeconds: round(median(perRound)),
      perRound,
    });
  };

  if (cases.readline) add(cases.readline, { short: 'readline', floor: null });
  if (cases['stream-json']) add(cases['stream-json'], { short: 'stream-json', floor: 'readline' });
  if (cases['songs-floor']) add(cases['songs-floor'], { short: 'songs floor', floor: null, noRate: true });
  floorSum();
  if (cases['pglite-init']) add(cases['pglite-init'], { short: 'PGlite init', floor: null, noRate: true });
  for (const id of ['extract-1', 'extract-all'] as const) {
    const c = cases[id];
    if (!c) continue;
    kindRows(c, 'extract', id, 'readline', 'songs-floor');
    if (id === 'extract-all') add(c, { id: `${id}:process`, label: `${c.label}: whole process (ledger read included)`, short: `${id} process`, pick: (s) => s.wallSeconds, floor: 'floors:events+songs' });
  }
  if (cases['psql-copy']) add(cases['psql-copy'], { short: 'psql \\copy', floor: null });
  if (cases['pglite-copy']) add(cases['pglite-copy'], { short: 'PGlite COPY', floor: null });
  if (cases.naive) add(cases.naive, { short: 'naive', floor: null });
  if (cases['naive-empty']) add(cases['naive-empty'], { short: 'naive (empty lookup)', floor: null });
  runRows(cases['pg-run'], 'PostgreSQL', 'psql-copy', 'naive-empty');
  runRows(cases['pglite-run'], 'PGlite', 'pglite-copy', 'pg-run:total');
  if (cases['small-objects']) add(cases['small-objects'], { short: 'small objects', floor: null });

  return raw.map(({ perRound, noRate, ...row }) => {
    const seconds = spread(perRound);
    const floor = raw.find((r) => r.id === row.floor);
    const perEvent = (r: RawRow, i: number) => (r.events > 0 && r.perRound[i]! > 0 ? r.perRound[i]! / r.events : null);
    // Rows without events (a songs step) compare their seconds directly: the floor read the same objects.
    const unit = (r: RawRow, i: number) => (r.events === 0 ? r.perRound[i]! || null : perEvent(r, i));
    const ratios = floor
      ? perRound.map((_, i) => {
          const mine = unit({ ...row, perRound, noRate }, i);
          const theirs = i < floor.perRound.length ? unit(floor, i) : null;
          return mine !== null && theirs !== null ? mine / theirs : null;
        })
      : [];
    const known = ratios.filter((r): r is number => r !== null);
    const ratioSpread: Spread | null = known.length ? spread(known) : null;
    return {
      ...row,
      floor: floor ? row.floor : null,
      seconds: seconds.median,
      secondsSpread: seconds,
      eventsPerSecond: noRate || row.events === 0 || seconds.median <= 0 ? null : row.events / seconds.median,
      ratio: ratioSpread?.median ?? null,
      ratioSpread,
    };
  });
}

const pct = (n: number): string => `${Math.round(n * 100)}%`;

/** A check of `figure` against `target`, with how far it is from it. */
function check(name: string, figure: number | null, unit: string, op: BenchCheck['op'], target: number, note?: string): BenchCheck {
  const base = { name, unit, op, target, ...(note ? { note } : {}) };
  if (figure === null || !Number.isFinite(figure)) return { ...base, figure: null, status: 'SKIP' };
  const met = op === '<' ? figure < target : op === '<=' ? figure <= target : figure >= target;
  const gap = Math.abs(figure - target);
  const digits = Math.abs(target) >= 100 ? 0 : 2;
  const margin = `${met ? 'met with' : 'missed by'} ${gap.toFixed(digits)}${unit === 'x' ? '' : ` ${unit}`} (${pct(gap / target)} ${met ? 'to spare' : op === '>=' ? 'short' : 'over'})`;
  return { ...base, figure: round(figure), status: met ? 'MET' : 'MISSED', margin };
}

/** The targets of issue 12, each read from the rows (medians; ratios are medians of per-round ratios). */
export function buildChecks(rows: readonly BenchRow[], events: number): BenchCheck[] {
  const row = (id: string) => rows.find((r) => r.id === id);
  const scaleNote = (scale: number) =>
    events === scale ? undefined : `the target is set at ${scale.toLocaleString('en-US')} events; this run has ${events.toLocaleString('en-US')}`;
  const pgRun = row('pg-run:total');
  const naiveEmpty = row('naive-empty');
  const eps = (r: BenchRow | undefined) => r?.eventsPerSecond ?? null;
  const mib = (r: BenchRow | undefined) => (r ? r.peakRssKb / 1024 : null);
  const transformAndChecks = row('pg-run:transform') && row('pg-run:check') ? row('pg-run:transform')!.seconds + row('pg-run:check')!.seconds : null;
  const withNote = (...notes: (string | undefined)[]) => notes.filter(Boolean).join('; ') || undefined;
  return [
    check('etl extract events step, all workers / readline floor', row('extract-all:events')?.ratio ?? null, 'x', '<=', 1.0),
    check('etl extract events step, 1 worker / readline floor', row('extract-1:events')?.ratio ?? null, 'x', '<=', 1.5),
    check('whole etl extract process (all workers, default engine) / floors over events + songs', row('extract-all:process')?.ratio ?? null, 'x', '<=', 1.3),
    check(
      'etl run on PostgreSQL, events/s (2x the 33,000 of issue 12)',
      eps(pgRun),
      'events/s',
      '>=',
      2 * ISSUE_12.pgRunEventsPerSecond,
      scaleNote(ISSUE_12.targetScale),
    ),
    check(
      'etl run on PostgreSQL / naive baseline with an empty song lookup, events/s',
      pgRun?.ratio ? 1 / pgRun.ratio : null,
      'x',
      '>=',
      35,
      withNote(pgRun && naiveEmpty ? `${Math.round(eps(pgRun) ?? 0)} vs ${Math.round(eps(naiveEmpty) ?? 0)} events/s (the baseline on a sample)` : undefined),
    ),
    check('transform + quality checks on PostgreSQL, seconds', transformAndChecks, 's', '<=', 8, scaleNote(ISSUE_12.targetScale)),
    check('etl run on PGlite, peak RSS', mib(row('pglite-run:total')), 'MiB', '<=', 400, withNote(scaleNote(ISSUE_12.targetScale), 'at 3M events: <= 1.2x the 1M figure (compare two runs)')),
    check('etl run on PGlite / on PostgreSQL, time', row('pglite-run:total')?.ratio ?? null, 'x', '<=', 1.5),
    check('many small objects at 20 ms a request, objects/s', eps(row('small-objects')), 'objects/s', '>=', 1000),
    check('etl run on PostgreSQL, peak RSS', mib(pgRun), 'MiB', '<', 300, scaleNote(ISSUE_12.pgRssScale)),
  ];
}
