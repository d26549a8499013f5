/**
 * WebRTC data channel server transport for Node, over `node-datachannel` (libdatachannel; its
 * prebuilt binary ships inside the npm package, and it is loaded only when a WebRTC listener or
 * client starts). A WebSocket listener (`ws`) carries the signalling: each client connects,
 * offers, and gets an answer and ICE candidates back; the WebSocket stays open for the life of
 * the peer, and its close (or the data channel's, or a failed ICE) is the peer's close.
 * Datagrams ride the client's one data channel, unordered with no retransmission.
 *
 * Bad input is counted, never thrown: a malformed signal or a second data channel is dropped,
 * a peer whose data channel is not open within the handshake timeout is cut.
 */
import type { DataChannel, PeerConnection } from 'node-datachannel';
import WebSocket, { WebSocketServer } from 'ws';
import { createTransportStats } from './stats.js';
import type {
  DatagramServerSocket,
  DatagramServerTransport,
  PeerId,
  TransportAddress,
  TransportStats,
} from './types.js';
import { formatSignal, parseSignal, WEBRTC_CHANNEL_LABEL, WEBRTC_MAX_SIGNAL_BYTES } from './WebRtcSignal.js';
import { WS_DEFAULT_HANDSHAKE_TIMEOUT_MS, WS_DEFAULT_MAX_BUFFERED, websocketUrl } from './wsCommon.js';

/** Options of `webrtcServer`. */
export interface WebRtcServerOptions {
  /** Interface of the signalling listener. Default '127.0.0.1'. */
  host?: string;
  /** Port of the signalling listener; 0 (default) lets the OS pick one. */
  port?: number;
  /** STUN/TURN servers for the server's candidates. Default none (host candidates). */
  iceServers?: string[];
  /**
   * Address ICE binds its UDP sockets to. Default: `host` when it is a loopback address (so a
   * loopback listener gathers loopback candidates only), else any.
   */
  bindAddress?: string;
  /** Largest datagram accepted and sent. Default 64 KiB. */
  maxDatagramSize?: number;
  /** Per-peer bytes queued on the data channel before datagrams are dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Most simultaneous peers (including ones still negotiating). Default unlimited. */
  maxPeers?: number;
  /** A peer whose data channel is not open by then is cut. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
}

type NodeDataChannel = typeof import('node-datachannel');

interface Peer {
  readonly ws: WebSocket;
  readonly pc: PeerConnection;
  channel?: DataChannel;
  timer?: ReturnType<typeof setTimeout>;
}

const noop = () => {};
const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');

class WebRtcServerSocket implements DatagramServerSocket {
  onDatagram: (peer: PeerId, data: Uint8Array) => void = noop;
  onPeerClosed: (peer: PeerId) => void = noop;
  readonly stats: TransportStats = createTransportStats();
  readonly maxDatagramSize: number;
  private readonly peers = new Map<PeerId, Peer>();
  private nextPeer = 0;
  private open = true;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly rtc: NodeDataChannel,
    private readonly wss: WebSocketServer,
    readonly address: TransportAddress,
    private readonly options: Required<Omit<WebRtcServerOptions, 'bindAddress' | 'host' | 'port'>> & {
      bindAddress: string | undefined;
    },
  ) {
    this.maxDatagramSize = options.maxDatagramSize;
    wss.on('connection', (ws) => this.accept(ws));
    wss.on('error', () => {
      this.stats.errors++;
    });
  }

  private accept(ws: WebSocket): void {
    ws.on('error', () => {
      this.stats.errors++;
    });
    if (!this.open || this.peers.size >= this.options.maxPeers) {
      ws.close(1013, this.open ? 'server full' : 'server closing');
      return;
    }
    const id: PeerId = `rtc#${++this.nextPeer}`;
    let pc: PeerConnection;
    try {
      pc = new this.rtc.PeerConnection(id, {
        iceServers: this.options.iceServers,
        ...(this.options.bindAddress ? { bindAddress: this.options.bindAddress } : {}),
      });
    } catch {
      this.stats.errors++;
      ws.close(1011, 'webrtc unavailable');
      return;
    }
    const peer: Peer = { ws, pc };
    this.peers.set(id, peer);
    peer.timer = setTimeout(() => {
      if (!peer.channel?.isOpen()) this.drop(id, true);
    }, this.options.handshakeTimeoutMs);
    const signal = (text: string) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(text);
    };
    pc.onLocalDescription((sdp, type) =>
      signal(formatSignal({ t: type === 'offer' ? 'offer' : 'answer', sdp })),
    );
    pc.onLocalCandidate((candidate, mid) => signal(formatSignal({ t: 'candidate', candidate, mid })));
    pc.onStateChange((state) => {
      if (state === 'failed' || state === 'closed') this.drop(id, true);
    });
    pc.onDataChannel((channel) => {
      if (peer.channel || channel.getLabel() !== WEBRTC_CHANNEL_LABEL) {
        this.stats.droppedInvalid++;
        channel.close();
        return;
      }
      peer.channel = channel;
      channel.onMessage((message) => {
        if (this.peers.get(id) !== peer) return;
        if (typeof message === 'string') {
          this.stats.droppedInvalid++;
          return;
        }
        const bytes =
          message instanceof ArrayBuffer
            ? new Uint8Array(message)
            : new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
        if (bytes.byteLength > this.maxDatagramSize) {
          this.stats.droppedOversize++;
          return;
        }
        this.stats.datagramsReceived++;
        this.stats.bytesReceived += bytes.byteLength;
        this.onDatagram(id, bytes);
      });
      channel.onClosed(() => this.drop(id, true));
      channel.onError(() => {
        this.stats.errors++;
      });
    });
    ws.on('message', (data, isBinary) => {
      if (this.peers.get(id) !== peer) return;
      const text = isBinary ? undefined : data.toString();
      const s = text !== undefined && text.length <= WEBRTC_MAX_SIGNAL_BYTES ? parseSignal(text) : undefined;
      if (!s || s.t === 'answer') {
        this.stats.droppedInvalid++;
        return;
      }
      try {
        if (s.t === 'offer') pc.setRemoteDescription(s.sdp, 'offer');
        else pc.addRemoteCandidate(s.candidate, s.mid);
      } catch {
        // libdatachannel throws on an SDP or candidate it cannot parse: that peer is done
        this.stats.errors++;
        this.drop(id, true);
      }
    });
    ws.on('close', () => this.drop(id, true));
  }

  send(peer: PeerId, data: Uint8Array): void {
    const channel = this.peers.get(peer)?.channel;
    if (!this.open || !channel?.isOpen()) {
      this.stats.droppedUnroutable++;
      return;
    }
    if (data.byteLength > this.maxDatagramSize) {
      this.stats.droppedOversize++;
      return;
    }
    if (channel.bufferedAmount() > this.options.maxBufferedBytes) {
      this.stats.droppedBackpressure++;
      return;
    }
    try {
      // the binding copies the bytes into libdatachannel's queue before returning
      if (channel.sendMessageBinary(data)) {
        this.stats.datagramsSent++;
        this.stats.bytesSent += data.byteLength;
      } else {
        this.stats.droppedBackpressure++;
      }
    } catch {
      this.stats.errors++;
    }
  }

  disconnectPeer(peer: PeerId): void {
    this.drop(peer, false);
  }

  /** Forgets a peer and closes its channel, connection and signalling socket. */
  private drop(id: PeerId, report: boolean): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    clearTimeout(peer.timer);
    for (const f of [
      () => peer.channel?.close(),
      () => peer.pc.close(),
      () => peer.ws.close(1000, 'closed'),
    ]) {
      try {
        f();
      } catch {
        // already closed
      }
    }
    // a peer that never opened its data channel was never seen above: nothing to report
    if (report && this.open && peer.channel) this.onPeerClosed(id);
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.open = false;
      for (const id of [...this.peers.keys()]) this.drop(id, false);
      this.closing = new Promise<void>((resolve) => this.wss.close(() => resolve()));
    }
    return this.closing;
  }
}

/**
 * A WebRTC data channel server transport: `listen()` binds the signalling WebSocket listener;
 * clients connect with `webrtcClient` (Node) or `browserWebRtcClient` (browsers) to its URL.
 */
export function webrtcServer(options: WebRtcServerOptions = {}): DatagramServerTransport {
  const host = options.host ?? '127.0.0.1';
  return {
    kind: 'webrtc',
    async listen(): Promise<DatagramServerSocket> {
      const rtc = (await import('node-datachannel')).default as unknown as NodeDataChannel;
      const wss = new WebSocketServer({ host, port: options.port ?? 0, maxPayload: WEBRTC_MAX_SIGNAL_BYTES });
      await new Promise<void>((resolve, reject) => {
        wss.once('listening', resolve);
        wss.once('error', reject);
      });
      const bound = wss.address();
      const port = typeof bound === 'object' && bound ? bound.port : 0;
      return new WebRtcServerSocket(
        rtc,
        wss,
        { transport: 'webrtc', host, port, url: websocketUrl(host, port) },
        {
          iceServers: options.iceServers ?? [],
          bindAddress: options.bindAddress ?? (isLoopback(host) ? host : undefined),
          maxDatagramSize: options.maxDatagramSize ?? 65536,
          maxBufferedBytes: options.maxBufferedBytes ?? WS_DEFAULT_MAX_BUFFERED,
          maxPeers: options.maxPeers ?? Number.POSITIVE_INFINITY,
          handshakeTimeoutMs: options.handshakeTimeoutMs ?? WS_DEFAULT_HANDSHAKE_TIMEOUT_MS,
        },
      );
    },
  };
}
