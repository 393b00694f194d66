/**
 * The thread of a PGlite warehouse opened apart (pglite-thread.ts): opens the data directory here, runs the
 * statements it is sent one after another, and closes it when told to; the thread then ends, and its
 * WebAssembly heap with it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { EtlError, describeError } from '../../errors.js';
import { PgliteWarehouse } from './pglite-warehouse.js';
import type { ThreadReply, ThreadRequest } from './pglite-thread.js';

const port = parentPort!;
const reply = (message: ThreadReply) => port.postMessage(message);
/** What an error keeps across the thread: its text, its SQLSTATE (a missing table is told apart by it) and its kind. */
const failure = (error: unknown) => ({ message: describeError(error), code: (error as { code?: unknown }).code, etl: error instanceof EtlError });

const { dataDir } = workerData as { dataDir: string };
try {
  const warehouse = await PgliteWarehouse.open(dataDir, (message) => reply({ notice: message }));
  // The thread's own exit hook does not run when the process exits: the main thread removes the lock then.
  reply({ ready: warehouse.description, ...(warehouse.directory.lock ? { lock: warehouse.directory.lock } : {}) });
  port.on('message', (request: ThreadRequest) => {
    if ('close' in request) {
      void warehouse
        .close()
        .then(
          () => reply({ closed: true }),
          (error: unknown) => reply({ closed: true, error: failure(error) }),
        )
        // Nothing more to wait for: the thread ends.
        .finally(() => port.close());
      return;
    }
    warehouse.query(request.sql, request.params).then(
      (result) => reply({ id: request.id, result }),
      (error: unknown) => reply({ id: request.id, error: failure(error) }),
    );
  });
} catch (error) {
  reply({ failed: failure(error) });
}
