import { MemoryHub } from '../../src/transport/browser.js';
import { udpClient, udpServer, websocketClient, websocketServer } from '../../src/transport/index.js';
import type {
  DatagramClientTransport,
  DatagramServerTransport,
  TransportAddress,
} from '../../src/transport/types.js';

/** One transport kind for the shared session suite: real sockets on 127.0.0.1 port 0, or the hub. */
export interface TransportKit {
  readonly name: string;
  server(): DatagramServerTransport;
  client(address: TransportAddress): DatagramClientTransport;
  close(): Promise<void>;
}

export function transportKits(): (() => TransportKit)[] {
  return [
    () => ({
      name: 'udp',
      server: () => udpServer({ host: '127.0.0.1', port: 0 }),
      client: (a) => udpClient(a),
      close: async () => {},
    }),
    () => ({
      name: 'websocket',
      server: () => websocketServer({ host: '127.0.0.1', port: 0 }),
      client: (a) => websocketClient(a),
      close: async () => {},
    }),
    () => {
      const hub = new MemoryHub({ seed: 3, conditioner: { latencyMs: 2 } });
      return {
        name: 'memory',
        server: () => hub.server(),
        client: (a) => hub.client(a),
        close: () => hub.close(),
      };
    },
  ];
}

/** Poll until `done()` (real time). */
export async function waitFor(done: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}
