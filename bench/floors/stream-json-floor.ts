/** Floor (b): stream-json's JSON-lines parser (stream-json/jsonl/parser.js, a Node Duplex), one thread. */
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import jsonl from 'stream-json/jsonl/parser.js';
import type { ParseFloorArgs } from './args.js';
import { floorArgs, listFiles, printResult } from './common.js';

const { logDir } = floorArgs<ParseFloorArgs>();
const files = await listFiles(logDir);
const started = performance.now();
let events = 0;
let plays = 0;
for (const file of files) {
  const sink = new Writable({
    objectMode: true,
    write(item: { value?: { page?: unknown } }, _encoding, done) {
      events++;
      if (item.value?.page === 'NextSong') plays++;
      done();
    },
  });
  await pipeline(createReadStream(file), jsonl.asStream(), sink);
}
printResult({ seconds: (performance.now() - started) / 1000, events, plays, files: files.length });
