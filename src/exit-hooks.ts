/**
 * Work that must happen when the process is interrupted (SIGINT, SIGTERM) before it exits: giving back a run
 * lock, restoring the terminal. Each hook is registered while it matters and removed once done.
 */
const hooks = new Set<() => Promise<void> | void>();

/** Registers `hook`; returns the function that removes it. */
export function onInterrupt(hook: () => Promise<void> | void): () => void {
  hooks.add(hook);
  return () => void hooks.delete(hook);
}

/** Runs every hook, newest first, each given at most `timeoutMs` (a lock release must not hang the exit). */
export async function runInterruptHooks(timeoutMs = 3000): Promise<void> {
  for (const hook of [...hooks].reverse()) {
    hooks.delete(hook);
    await Promise.race([Promise.resolve().then(hook).catch(() => {}), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }
}
