/**
 * Work that must happen when the process is interrupted (SIGINT, SIGTERM) before it exits: giving back a run
 * lock, restoring the terminal. Each hook is registered while it matters and removed once done.
 */
/** A hook hears the signal that interrupted the process, when it is known. */
type InterruptHook = (signal?: string) => Promise<void> | void;

const hooks = new Set<InterruptHook>();

/** Registers `hook`; returns the function that removes it. */
export function onInterrupt(hook: InterruptHook): () => void {
  hooks.add(hook);
  return () => void hooks.delete(hook);
}

/** Runs every hook, newest first, each given at most `timeoutMs` (a lock release must not hang the exit). */
export async function runInterruptHooks(timeoutMs = 3000, signal?: string): Promise<void> {
  for (const hook of [...hooks].reverse()) {
    hooks.delete(hook);
    await Promise.race([Promise.resolve().then(() => hook(signal)).catch(() => {}), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }
}
