import { Client, type ClientOptions } from '../../src/client/index.js';
import type { Protocol } from '../../src/index.js';
import { OfflineAuthenticator, Server, type ServerOptions } from '../../src/server/index.js';
import type { LinkConditionerConfig } from '../../src/transport/browser.js';
import { MemoryHub } from '../../src/transport/browser.js';
import type { TransportAddress } from '../../src/transport/types.js';
import { ManualClock } from '../../src/util/Clock.js';
import { type ChannelName, protocol } from './protocol.js';

/** Let pending promise continuations (connect()'s awaits) run. */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A deterministic world: one ManualClock drives a memory hub, a server and its clients. Each
 * `tick()` advances time by one protocol tick, delivers what fell due, then steps the server
 * and every client.
 */
export class Sim {
  readonly clock = new ManualClock(1000);
  readonly hub: MemoryHub;
  readonly server: Server<ChannelName>;
  readonly clients: Client<any>[] = [];
  /** Extra per-tick work (raw peers…). */
  readonly onTick: (() => void)[] = [];
  address!: TransportAddress;
  readonly tickMs = protocol.tickIntervalMs;

  constructor(opts: { seed?: number; conditioner?: LinkConditionerConfig; server?: ServerOptions } = {}) {
    this.hub = new MemoryHub({ clock: this.clock, seed: opts.seed ?? 1, conditioner: opts.conditioner });
    // development authentication unless the test brings its own (identity keys or an authenticator)
    const auth =
      opts.server?.authenticator || opts.server?.identityKeys
        ? {}
        : { authenticator: new OfflineAuthenticator() };
    this.server = new Server(protocol, { clock: this.clock, ...auth, ...opts.server });
  }

  async listen(): Promise<this> {
    this.address = await this.server.listen(this.hub.server());
    return this;
  }

  client(options: ClientOptions = {}, proto: Protocol<any> = protocol): Client<ChannelName> {
    const c = new Client(proto as typeof protocol, { clock: this.clock, ...options });
    this.clients.push(c);
    return c;
  }

  async tick(n = 1): Promise<void> {
    for (let i = 0; i < n; i++) {
      await settle();
      this.hub.advance(this.tickMs);
      this.server.step();
      for (const c of this.clients) c.step();
      for (const f of this.onTick) f();
    }
  }

  /** Tick until `done()` or `maxTicks`; returns whether `done()` became true. */
  async until(done: () => boolean, maxTicks = 500): Promise<boolean> {
    for (let i = 0; i < maxTicks && !done(); i++) await this.tick();
    return done();
  }

  /** Tick until the promise settles; returns its outcome. */
  async settleWithin<T>(p: Promise<T>, maxTicks = 500): Promise<{ value?: T; error?: unknown }> {
    let out: { value?: T; error?: unknown } | undefined;
    p.then(
      (value) => (out = { value }),
      (error) => (out = { error }),
    );
    await this.until(() => out !== undefined, maxTicks);
    await settle();
    if (!out) throw new Error('promise did not settle');
    return out;
  }

  async close(): Promise<void> {
    for (const c of this.clients) await c.close();
    await this.server.close();
    await this.hub.close();
  }
}
