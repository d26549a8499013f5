import { encodeSessionPacket } from '../../src/session/packets/codec.js';
import {
  ConnectionlessKind,
  decodeConnectRetry,
  encodeConnectRequest,
} from '../../src/session/packets/connectionless.js';
import type { ConnectPacket } from '../../src/session/packets/types.js';
import type { DatagramClientSocket, DatagramClientTransport } from '../../src/transport/types.js';
import { protocol } from './protocol.js';

/** A well-formed Connect for the test protocol. */
export function connectPacket(over: Partial<ConnectPacket> = {}): ConnectPacket {
  return {
    type: 'Connect',
    protocolHash: protocol.hash,
    clientType: 'raw',
    language: 'en',
    uuid: '00000000-0000-4000-8000-000000000001',
    username: 'raw',
    ...over,
  };
}

/** Connect datagrams (ConnectRequest fragments) for a packet, with the server's cookie once known. */
export function connectDatagrams(
  over: Partial<ConnectPacket> = {},
  nonce = 42,
  mtu = 1200,
  cookie?: Uint8Array,
): Uint8Array[] {
  return encodeConnectRequest(encodeSessionPacket(connectPacket(over)), nonce, mtu, cookie);
}

/**
 * A peer that speaks raw datagrams: sends what it is told and records what it gets. After
 * {@link connect} it answers the server's ConnectRetry with the cookie, as a real client does
 * (it receives at its address); {@link send} alone never does.
 */
export class RawPeer {
  readonly received: Uint8Array[] = [];
  sentBytes = 0;
  /** ConnectRetry datagrams answered. */
  retries = 0;
  private connecting: { over: Partial<ConnectPacket>; nonce: number; mtu: number } | undefined;
  private constructor(readonly socket: DatagramClientSocket) {
    socket.onDatagram = (d) => {
      this.received.push(d);
      if (d[0] === ConnectionlessKind.ConnectRetry && this.connecting) {
        const { over, nonce, mtu } = this.connecting;
        const retry = decodeConnectRetry(d);
        if (retry.nonce !== nonce) return;
        this.retries++;
        this.send(...connectDatagrams(over, nonce, mtu, retry.cookie));
      }
    };
  }

  /** Send a Connect (cookie-less) and echo the cookie of the server's ConnectRetry. */
  connect(over: Partial<ConnectPacket> = {}, nonce = 42, mtu = 1200): void {
    this.connecting = { over, nonce, mtu };
    this.send(...connectDatagrams(over, nonce, mtu));
  }

  /** What was received, except the ConnectRetry datagrams of the address validation. */
  get replies(): Uint8Array[] {
    return this.received.filter((d) => d[0] !== ConnectionlessKind.ConnectRetry);
  }

  static async open(transport: DatagramClientTransport): Promise<RawPeer> {
    return new RawPeer(await transport.connect());
  }

  send(...datagrams: Uint8Array[]): void {
    for (const d of datagrams) {
      this.sentBytes += d.length;
      this.socket.send(d);
    }
  }

  get receivedBytes(): number {
    return this.received.reduce((n, d) => n + d.length, 0);
  }

  close(): Promise<void> {
    return this.socket.close();
  }
}
