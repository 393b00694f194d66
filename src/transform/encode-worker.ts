/** Parser thread: receives blocks, returns their staging CSV and rejections. */
import { parentPort } from 'node:worker_threads';
import { encodeBlock, type BlockTask } from './encode-block.js';

parentPort!.on('message', ({ id, task }: { id: number; task: BlockTask }) => {
  try {
    const result = encodeBlock(task);
    // The CSV's memory moves to the main thread; a small one may sit in Node's buffer pool, which must stay here.
    const owned = result.csv.buffer.byteLength > Buffer.poolSize;
    parentPort!.postMessage({ id, result }, owned ? [result.csv.buffer as ArrayBuffer] : []);
  } catch (error) {
    parentPort!.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
