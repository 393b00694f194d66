/**
 * Floor (f): every song file read whole (`readFile`, `concurrency` at a time) and each of its lines given to
 * JSON.parse, one thread: the least any extract of the songs does.
 */
import { readFile } from 'node:fs/promises';
import type { SongsFloorArgs } from './args.js';
import { floorArgs, listFiles, printResult } from './common.js';

const { songDir, concurrency } = floorArgs<SongsFloorArgs>();
const started = performance.now();
const files = await listFiles(songDir);
let songs = 0;
let next = 0;
const reader = async (): Promise<void> => {
  while (next < files.length) {
    const text = await readFile(files[next++]!, 'utf8');
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      JSON.parse(line);
      songs++;
    }
  }
};
await Promise.all(Array.from({ length: concurrency }, reader));
printResult({ seconds: (performance.now() - started) / 1000, events: songs, songs, files: files.length });
