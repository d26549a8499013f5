import type { MessageDef } from '../serde/index.js';
import type { DecodedMessage, Protocol } from './Protocol.js';

/**
 * Typed per-message-kind handlers shared by `Server` and `Client`: registration, decode of an
 * incoming payload (malformed input counted and dropped, never thrown), and the call of each
 * handler with listener errors isolated. `X` is what the owner passes before the value (the
 * sending user on the server, nothing on the client). `delivered` runs after the handlers
 * (the owner's untyped `'message'` event). Browser-safe.
 */
export class MessageDispatch<C extends string, X> {
  /** Application messages decoded and delivered. */
  messagesIn = 0;
  /** Application messages that failed to decode. */
  malformedMessages = 0;
  private readonly handlers = new Map<MessageDef<any>, Set<(from: X, value: any, channel: C) => void>>();

  constructor(
    private readonly protocol: Protocol<C>,
    private readonly onListenerError: (error: unknown, event: string) => void,
    private readonly delivered: (from: X, channel: C, def: MessageDef<any>, value: unknown) => void,
  ) {}

  /** Add a handler for one message kind (throws if `def` is not registered); returns an unsubscribe function. */
  on(def: MessageDef<any>, handler: (from: X, value: any, channel: C) => void): () => void {
    this.protocol.messageKind(def);
    let set = this.handlers.get(def);
    if (!set) {
      set = new Set();
      this.handlers.set(def, set);
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  /** Decode `payload` received on link channel `channel` and call its handlers; malformed input is counted and dropped. */
  deliver(from: X, channel: number, payload: Uint8Array): void {
    let decoded: DecodedMessage;
    try {
      decoded = this.protocol.decodeMessage(payload);
    } catch {
      this.malformedMessages++;
      return;
    }
    this.messagesIn++;
    const name = this.protocol.channels[channel].name;
    const set = this.handlers.get(decoded.def);
    if (set) {
      for (const h of [...set]) {
        try {
          h(from, decoded.value, name);
        } catch (error) {
          this.onListenerError(error, `onMessage(${decoded.def.name})`);
        }
      }
    }
    this.delivered(from, name, decoded.def, decoded.value);
  }
}
