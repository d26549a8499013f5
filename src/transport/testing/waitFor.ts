/**
 * Test helper for network tests: resolves once `condition()` holds, polling every 2 ms, and
 * rejects after `timeoutMs` so a lost datagram fails the test instead of hanging it.
 */
export function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (condition()) resolve();
      else if (Date.now() - start > timeoutMs) reject(new Error('waitFor: timed out'));
      else setTimeout(poll, 2);
    };
    poll();
  });
}
