import { encodeSessionPacket } from '../../src/session/packets/codec.js';
import { encodeConnectRequest } from '../../src/session/packets/connectionless.js';
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

/** Connect datagrams (ConnectRequest fragments) for a packet. */
export function connectDatagrams(over: Partial<ConnectPacket> = {}, nonce = 42, mtu = 1200): Uint8Array[] {
  return encodeConnectRequest(encodeSessionPacket(connectPacket(over)), nonce, mtu);
}

/** A peer that speaks raw datagrams: sends what it is told and records what it gets. */
export class RawPeer {
  readonly received: Uint8Array[] = [];
  sentBytes = 0;
  private constructor(readonly socket: DatagramClientSocket) {
    socket.onDatagram = (d) => this.received.push(d);
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
