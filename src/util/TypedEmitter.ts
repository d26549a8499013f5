/**
 * A minimal typed event emitter that runs in browsers and Node alike (`src/client` may not
 * import `node:events`). A listener that throws does not stop the others; the error is
 * reported to `onListenerError` (default: console.error) so game code cannot break the stack.
 */
// biome-ignore lint/suspicious/noExplicitAny: listener parameter lists are declared per event by the user
export type EventMap = Record<string, (...args: any[]) => void>;

export class TypedEmitter<E extends EventMap> {
  private readonly listeners = new Map<keyof E, Set<E[keyof E]>>();
  onListenerError: (error: unknown, event: string) => void = (error, event) => {
    console.error(`baton: listener for '${event}' threw`, error);
  };

  on<K extends keyof E>(event: K, listener: E[K]): this {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return this;
  }

  once<K extends keyof E>(event: K, listener: E[K]): this {
    const wrapped = ((...args: unknown[]) => {
      this.off(event, wrapped);
      listener(...args);
    }) as E[K];
    return this.on(event, wrapped);
  }

  off<K extends keyof E>(event: K, listener: E[K]): this {
    this.listeners.get(event)?.delete(listener);
    return this;
  }

  removeAllListeners(event?: keyof E): this {
    if (event === undefined) this.listeners.clear();
    else this.listeners.delete(event);
    return this;
  }

  listenerCount(event: keyof E): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Returns whether anyone listened. */
  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): boolean {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return false;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        this.onListenerError(error, String(event));
      }
    }
    return true;
  }
}
