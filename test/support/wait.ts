/** Polling for tests that wait on something asynchronous to become true. */

/** Checks `condition` now and every `intervalMs` after; true once it holds, false when `timeoutMs` passed first. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5000, intervalMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** As `waitFor`, but throws when the condition is not met in time. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5000, intervalMs = 10): Promise<void> {
  if (!(await waitFor(condition, timeoutMs, intervalMs))) throw new Error('condition not met in time');
}
