/** Parser thread: receives blocks, returns their staging CSV and rejections. */
import { parentPort } from 'node:worker_threads';
import { encodeBlock, type BlockTask } from './encode-block.js';

parentPort!.on('message', ({ id, task }: { id: number; task: BlockTask }) => {
  try {
    const result = encodeBlock(task);
    parentPort!.postMessage({ id, result });
  } catch (error) {
    parentPort!.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
