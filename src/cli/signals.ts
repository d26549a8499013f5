/**
 * Ctrl-C and SIGTERM for the `baton` commands: the first signal aborts the command's
 * `AbortSignal`, so it stops what it runs, closes everything and removes its temporary files
 * on its normal path; a second signal exits at once (code 130).
 */

/** An AbortSignal that fires on the first SIGINT or SIGTERM; `dispose()` removes the handlers. */
export function shutdownSignal(onSignal?: (name: NodeJS.Signals) => void): {
  readonly signal: AbortSignal;
  dispose(): void;
} {
  const controller = new AbortController();
  const handler = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    onSignal?.(name);
    controller.abort(new Error(`received ${name}`));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** Wait `ms`, or less if `signal` aborts first. Never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
