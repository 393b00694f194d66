import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FLOOR_ARGS_ENV, type FloorResult } from './args.js';

/** Every file under `dir`, sorted by path (byte order), as object keys are. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

export function floorArgs<T>(): T {
  const text = process.env[FLOOR_ARGS_ENV];
  if (!text) throw new Error(`${FLOOR_ARGS_ENV} is not set`);
  return JSON.parse(text) as T;
}

export function printResult(result: FloorResult): void {
  process.stdout.write(JSON.stringify(result) + '\n');
}
