/** Floor (a): node:readline + JSON.parse of every log line, one thread. */
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ParseFloorArgs } from './args.js';
import { floorArgs, listFiles, printResult } from './common.js';

const { logDir } = floorArgs<ParseFloorArgs>();
const files = await listFiles(logDir);
const started = performance.now();
let events = 0;
let plays = 0;
for (const file of files) {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    const event = JSON.parse(line) as { page?: unknown };
    events++;
    if (event.page === 'NextSong') plays++;
  });
  await once(lines, 'close');
}
printResult({ seconds: (performance.now() - started) / 1000, events, plays, files: files.length });
