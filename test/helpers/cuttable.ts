import type { DatagramClientSocket, DatagramClientTransport } from '../../src/transport/types.js';

/**
 * A client transport whose connection the test can cut, as a Wi-Fi switch or a closed tab
 * would: `cut(ms)` closes the real socket, tells its owner the transport closed, and makes every
 * `connect()` for the next `ms` wait until the "network" is back, then open a fresh real socket
 * (a new UDP port, a new WebSocket).
 */
export function cuttable(inner: DatagramClientTransport): {
  transport: DatagramClientTransport;
  cut(ms: number): void;
  readonly connects: number;
} {
  let current: DatagramClientSocket | undefined;
  let reportClosed: ((reason: string) => void) | undefined;
  let downUntil = 0;
  let connects = 0;
  return {
    get connects() {
      return connects;
    },
    cut(ms) {
      downUntil = Date.now() + ms;
      const socket = current;
      current = undefined;
      void socket?.close();
      reportClosed?.('cut by the test');
    },
    transport: {
      kind: inner.kind,
      async connect() {
        const wait = downUntil - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const socket = await inner.connect();
        connects++;
        current = socket;
        // the owner sets its handlers on the wrapper; the real socket forwards to them
        const wrapper: DatagramClientSocket = {
          maxDatagramSize: socket.maxDatagramSize,
          onDatagram: () => {},
          onClosed: () => {},
          send: (d) => socket.send(d),
          close: () => socket.close(),
        };
        socket.onDatagram = (d) => wrapper.onDatagram(d);
        socket.onClosed = (reason) => wrapper.onClosed(reason);
        reportClosed = (reason) => wrapper.onClosed(reason);
        return wrapper;
      },
    },
  };
}
