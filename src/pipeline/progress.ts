/**
 * What a command shows while it works. On a terminal: a bar per source with its total once the listing is
 * done (percentage, rate, ETA), and a step line with its elapsed time during the transform and the checks.
 * Off a terminal (a pipe, CI, a scheduler): timestamped lines, a line per step with its duration, or
 * `--log-format json`, one JSON object per line. Either way the same lines can go to a log file.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import cliProgress from 'cli-progress';

export interface Counters {
  objects: number;
  records: number;
  rejected: number;
}

/** Progress of one source: counts go up; the total comes once the listing is done; `done` ends it. */
export interface Tracker {
  update(counters: Counters): void;
  /** The number of objects to read, known once the listing is done. */
  total(objects: number): void;
  done(): void;
}

/** A step of known name and unknown length (a transform statement, the checks): `done` ends it. */
export interface Step {
  done(): void;
}

export interface Progress {
  track(label: string): Tracker;
  step(name: string): Step;
  /** A plain message, printed so it does not garble a live bar. */
  log(message: string): void;
  /** Also write every line (timestamped) to `path`, until `detach`. */
  logTo(path: string): void;
  detach(): Promise<void>;
  stop(): void;
}

export type LogFormat = 'text' | 'json';

/** Steps shorter than this are not listed one by one off a terminal: the summary line counts them. */
const QUIET_STEP_SECONDS = 0.5;

const n = (value: number) => value.toLocaleString('en-US');
const summary = (label: string, c: Counters, seconds: number, total?: number): string =>
  `${label}: ${n(c.objects)}${total !== undefined ? ` of ${n(total)}` : ''} objects, ${n(c.records)} records, ${n(c.rejected)} rejected (${seconds.toFixed(1)} s)`;

/** A line sink: the stream, plus the log file when one is attached. */
class Lines {
  private file: WriteStream | undefined;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    readonly format: LogFormat,
  ) {}

  entry(event: string, message: string, fields: Record<string, unknown> = {}): string {
    const time = new Date().toISOString();
    return this.format === 'json' ? JSON.stringify({ time, event, message, ...fields }) : `${time} ${message}`;
  }

  /** To the stream (off a terminal) and the file. */
  write(event: string, message: string, fields?: Record<string, unknown>): void {
    const line = this.entry(event, message, fields);
    this.stream.write(`${line}\n`);
    this.file?.write(`${line}\n`);
  }

  /** To the file only (a terminal shows it its own way). */
  record(event: string, message: string, fields?: Record<string, unknown>): void {
    this.file?.write(`${this.entry(event, message, fields)}\n`);
  }

  attach(path: string): void {
    this.file = createWriteStream(path, { flags: 'a' });
    this.file.on('error', () => {});
  }

  async detach(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    if (file) await new Promise<void>((resolve) => file.end(resolve));
  }
}

/** Times steps and says, at the end of a run of them, how many ran and which took longest. */
function stepTimer(onEnd: (name: string, seconds: number) => void) {
  return (name: string): Step => {
    const start = performance.now();
    let ended = false;
    return {
      done: () => {
        if (ended) return;
        ended = true;
        onEnd(name, (performance.now() - start) / 1000);
      },
    };
  };
}

/** Where `--quiet` writes: nowhere (the log file still gets every line). */
const nowhere = { write: () => true } as unknown as NodeJS.WritableStream;

/** Lines off a terminal: a line per source every 10 s and at its end, a line per step that takes time. */
function lineProgress(lines: Lines): Progress {
  return {
    track(label) {
      const start = performance.now();
      let last = start;
      let total: number | undefined;
      let counters: Counters = { objects: 0, records: 0, rejected: 0 };
      const fields = () => ({ label, ...counters, total, seconds: Number(((performance.now() - start) / 1000).toFixed(3)) });
      return {
        update(c) {
          counters = c;
          const now = performance.now();
          if (now - last >= 10_000) {
            last = now;
            lines.write('progress', `${summary(label, c, (now - start) / 1000, total)} ...`, fields());
          }
        },
        total(objects) {
          total = objects;
        },
        done: () => lines.write('source', summary(label, counters, (performance.now() - start) / 1000, total), fields()),
      };
    },
    step(name) {
      // A scheduler reading JSON lines sees each step begin, too: what a stuck run is doing.
      if (lines.format === 'json') lines.write('step-start', name, { name });
      return stepTimer((done, seconds) => {
        const message = `${done} (${seconds.toFixed(1)} s)`;
        if (seconds >= QUIET_STEP_SECONDS || lines.format === 'json') lines.write('step', message, { name: done, seconds });
        else lines.record('step', message, { name: done, seconds });
      })(name);
    },
    log: (message) => lines.write('message', message),
    logTo: (path) => lines.attach(path),
    detach: () => lines.detach(),
    stop: () => {},
  };
}

/** Live bars on a terminal; lines, timestamped, go to the log file only. */
function barProgress(stream: NodeJS.WriteStream, lines: Lines): Progress {
  // Until the listing is done there is no total: no bar, percentage or ETA to show yet.
  const counted = '{label} |{bar}| {percentage}% | {value}/{total} objects | {records} records | {rejected} rejected | {rate} records/s | ETA {eta_formatted}';
  const listing = '{label} | listing... | {value} objects | {records} records | {rejected} rejected | {rate} records/s';
  const format: cliProgress.GenericFormatter = (options, params, payload: { totalKnown?: boolean; format?: string }) =>
    cliProgress.Format.Formatter({ ...options, format: payload.format ?? (payload.totalKnown ? counted : listing) }, params, payload);
  const bars = new cliProgress.MultiBar(
    {
      stream,
      format,
      hideCursor: true,
      clearOnComplete: false,
      fps: 5,
      barsize: 20,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_grey,
  );
  let stopped = false;
  const stepBar = bars.create(0, 0, { label: '', step: '', elapsed: '', format: '{label}{step}{elapsed}' });
  let current: { name: string; start: number; timer: NodeJS.Timeout } | undefined;
  const showStep = () => {
    if (stopped) return;
    if (!current) stepBar.update(0, { label: '', step: '', elapsed: '' });
    else stepBar.update(0, { label: 'step: ', step: current.name, elapsed: ` (${((performance.now() - current.start) / 1000).toFixed(1)} s)` });
    // Drawn now: PGlite runs a statement on this thread, so the display's own timer may not fire until it ends.
    bars.update();
  };
  return {
    track(label) {
      // Stopped (the command ends or was interrupted): no new bar, which would start the display again.
      if (stopped) return { update: () => {}, total: () => {}, done: () => {} };
      const start = performance.now();
      let counters: Counters = { objects: 0, records: 0, rejected: 0 };
      const bar = bars.create(0, 0, { label, totalKnown: false, records: '0', rejected: '0', rate: '0' });
      return {
        update: (c) => {
          counters = c;
          const rate = Math.round(c.records / Math.max(0.001, (performance.now() - start) / 1000));
          if (!stopped) bar.update(c.objects, { records: n(c.records), rejected: n(c.rejected), rate: n(rate) });
        },
        total: (objects) => {
          if (stopped) return;
          bar.setTotal(objects);
          bar.update({ totalKnown: true });
        },
        done: () => {
          lines.record('source', summary(label, counters, (performance.now() - start) / 1000));
          if (!stopped) bar.stop();
        },
      };
    },
    step(name) {
      const timer = setInterval(showStep, 200);
      timer.unref();
      const start = performance.now();
      current = { name, start, timer };
      showStep();
      return {
        done: () => {
          clearInterval(timer);
          const seconds = (performance.now() - start) / 1000;
          lines.record('step', `${name} (${seconds.toFixed(1)} s)`, { name, seconds });
          if (current?.timer === timer) current = undefined;
          if (!stopped) showStep();
        },
      };
    },
    log: (message) => {
      lines.record('message', message);
      if (!stopped) bars.log(`${message}\n`);
      else stream.write(`${message}\n`);
    },
    logTo: (path) => lines.attach(path),
    detach: () => lines.detach(),
    stop: () => {
      if (stopped) return;
      stopped = true;
      if (current) clearInterval(current.timer);
      current = undefined;
      bars.remove(stepBar);
      bars.stop();
    },
  };
}

/**
 * The display for `stream` (stderr): bars on a terminal, lines elsewhere (or JSON lines with `format` json,
 * which also stands in for bars on a terminal, for schedulers that allocate one); nothing when `quiet`.
 */
export function createProgress(stream: NodeJS.WriteStream = process.stderr, quiet = false, format: LogFormat = 'text'): Progress {
  if (quiet) return lineProgress(new Lines(nowhere, format));
  const lines = new Lines(stream, format);
  return stream.isTTY && format === 'text' ? barProgress(stream, lines) : lineProgress(lines);
}
