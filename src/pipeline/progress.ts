import cliProgress from 'cli-progress';

export interface Counters {
  objects: number;
  records: number;
  rejected: number;
}

/** Progress of one long step: counts go up; `done` prints the final line. */
export interface Tracker {
  update(counters: Counters): void;
  done(): void;
}

export interface Progress {
  track(label: string): Tracker;
  /** A plain message, printed so it does not garble a live bar. */
  log(message: string): void;
  stop(): void;
}

const summary = (label: string, c: Counters, seconds: number): string =>
  `${label}: ${c.objects.toLocaleString('en-US')} objects, ${c.records.toLocaleString('en-US')} records, ` +
  `${c.rejected.toLocaleString('en-US')} rejected (${seconds.toFixed(1)} s)`;

/** Live bars on a terminal (stderr); on a pipe or in CI, a line every 10 s and one at the end of each step. */
export function createProgress(stream: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  if (quiet) return { track: () => ({ update: () => {}, done: () => {} }), log: () => {}, stop: () => {} };
  if (!stream.isTTY) {
    return {
      track(label) {
        const start = performance.now();
        let last = start;
        let counters: Counters = { objects: 0, records: 0, rejected: 0 };
        return {
          update(c) {
            counters = c;
            const now = performance.now();
            if (now - last >= 10_000) {
              last = now;
              stream.write(`${summary(label, c, (now - start) / 1000)} ...\n`);
            }
          },
          done: () => stream.write(`${summary(label, counters, (performance.now() - start) / 1000)}\n`),
        };
      },
      log: (message) => stream.write(`${message}\n`),
      stop: () => {},
    };
  }
  const bars = new cliProgress.MultiBar(
    {
      stream,
      format: '{label} | {objects} objects | {records} records | {rejected} rejected | {rate} records/s',
      hideCursor: true,
      clearOnComplete: false,
      fps: 5,
    },
    cliProgress.Presets.shades_grey,
  );
  return {
    track(label) {
      const start = performance.now();
      const bar = bars.create(0, 0, { label, objects: 0, records: 0, rejected: 0, rate: 0 });
      return {
        update: (c) => bar.update({ ...c, rate: Math.round(c.records / Math.max(0.001, (performance.now() - start) / 1000)) }),
        done: () => bar.stop(),
      };
    },
    log: (message) => bars.log(`${message}\n`),
    stop: () => bars.stop(),
  };
}
