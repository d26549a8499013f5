/**
 * WebRTC data channel client transport over the platform's `RTCPeerConnection` (browsers; Node
 * passes node-datachannel's through `webrtcClient`). Signalling goes over a WebSocket to the
 * server's `webrtcServer` listener, which stays open: its close is the session's transport
 * close. Datagrams ride one data channel that is unordered and never retransmits, i.e. UDP
 * semantics with congestion control and encryption: unreliable and sequenced link channels
 * suffer no head-of-line blocking, and reliable ones use the link layer's own acks and resends.
 * Browser-safe: no `node:` imports.
 */
import type { WebSocketLike } from './BrowserWebSocketTransport.js';
import { ClientSocketBase } from './ClientSocketBase.js';
import type { DatagramClientSocket, DatagramClientTransport, TransportAddress } from './types.js';
import { formatSignal, parseSignal, WEBRTC_CHANNEL_LABEL, WEBRTC_MAX_SIGNAL_BYTES } from './WebRtcSignal.js';
import {
  resolveWebSocketUrl,
  WS_DEFAULT_CLOSE_GRACE_MS,
  WS_DEFAULT_HANDSHAKE_TIMEOUT_MS,
  WS_DEFAULT_MAX_BUFFERED,
} from './wsCommon.js';

/** The signalling WebSocket: a WHATWG one (it sends text frames). */
export type SignallingSocketLike = Omit<WebSocketLike, 'send'> & { send(data: string): void };

/** A `WebSocket` constructor for the signalling socket. */
export type SignallingSocketConstructor = new (url: string) => SignallingSocketLike;

/** The subset of the WHATWG `RTCDataChannel` this transport uses. */
export interface RtcDataChannelLike {
  binaryType: string;
  readonly readyState: string;
  readonly bufferedAmount: number;
  send(data: ArrayBufferView | ArrayBuffer): void;
  close(): void;
  addEventListener(type: string, listener: (event: never) => void): void;
}

/** The subset of the WHATWG `RTCPeerConnection` this transport uses. */
export interface RtcPeerConnectionLike {
  readonly connectionState: string;
  createDataChannel(label: string, init: { ordered: boolean; maxRetransmits: number }): RtcDataChannelLike;
  createOffer(): Promise<{ type?: string; sdp?: string }>;
  setLocalDescription(description: { type?: string; sdp?: string }): Promise<void>;
  setRemoteDescription(description: { type: 'answer'; sdp: string }): Promise<void>;
  addIceCandidate(candidate: { candidate: string; sdpMid: string }): Promise<void>;
  addEventListener(type: string, listener: (event: never) => void): void;
  close(): void;
}

/** An `RTCPeerConnection` constructor compatible with the WHATWG one. */
export type RtcPeerConnectionConstructor = new (config: {
  iceServers: { urls: string | string[] }[];
}) => RtcPeerConnectionLike;

/** Options of `browserWebRtcClient` (and of Node's `webrtcClient`). */
export interface WebRtcClientOptions {
  /** STUN/TURN servers. Default none: host candidates only (loopback, LAN). */
  iceServers?: { urls: string | string[] }[];
  /** Largest datagram `send` accepts. Default 64 KiB (links send about 1.2 KB). */
  maxDatagramSize?: number;
  /** Bytes queued on the data channel before datagrams are dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Fails `connect()` if the data channel is not open by then. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** How long `close()` waits for the data channel to flush and close. Default 1000 ms. */
  closeGraceMs?: number;
  /** The constructor to use. Default `globalThis.RTCPeerConnection`. */
  RTCPeerConnection?: RtcPeerConnectionConstructor;
  /** The signalling WebSocket constructor. Default `globalThis.WebSocket`. */
  WebSocket?: SignallingSocketConstructor;
}

const WEBRTC_DEFAULT_MAX_DATAGRAM = 65536;

class WebRtcClientSocket extends ClientSocketBase {
  readonly maxDatagramSize: number;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly ws: SignallingSocketLike,
    private readonly pc: RtcPeerConnectionLike,
    private readonly channel: RtcDataChannelLike,
    private readonly options: { maxDatagramSize: number; maxBufferedBytes: number; closeGraceMs: number },
  ) {
    super();
    this.maxDatagramSize = options.maxDatagramSize;
    channel.addEventListener('message', (event: { data: unknown }) => {
      if (event.data instanceof ArrayBuffer) this.receive(new Uint8Array(event.data));
      else this.stats.droppedInvalid++;
    });
    channel.addEventListener('close', () => this.closedByTransport('webrtc data channel closed'));
    ws.addEventListener('close', () => this.closedByTransport('webrtc signalling closed'));
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
        this.closedByTransport(`webrtc connection ${pc.connectionState}`);
      }
    });
  }

  send(data: Uint8Array): void {
    this.sendThrough(this.channel, this.channel.readyState === 'open', this.options.maxBufferedBytes, data);
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.markClosedByOwner();
      const channel = this.channel;
      // Closing the channel first sends what is queued on it (the session's last words, a
      // Disconnect) before the stream resets; only then do the connection and signalling go.
      this.closing = new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          shut(this.ws, this.pc, channel);
          resolve();
        };
        const timer = setTimeout(done, this.options.closeGraceMs);
        if (channel.readyState === 'closed') done();
        else {
          channel.addEventListener('close', done);
          try {
            channel.close();
          } catch {
            done();
          }
        }
      });
    }
    return this.closing;
  }
}

/** Closes whatever of the three exists; never throws. */
function shut(
  ws: SignallingSocketLike | undefined,
  pc?: RtcPeerConnectionLike,
  channel?: RtcDataChannelLike,
): void {
  for (const f of [() => channel?.close(), () => pc?.close(), () => ws?.close(1000)]) {
    try {
      f();
    } catch {
      // already closed, or not open yet in some engines
    }
  }
}

/**
 * A WebRTC data channel client transport for a `webrtcServer` address (or its signalling URL),
 * using the global `RTCPeerConnection` and `WebSocket` unless given. Browser-safe.
 */
export function browserWebRtcClient(
  address: TransportAddress | string,
  options: WebRtcClientOptions = {},
): DatagramClientTransport {
  const url = resolveWebSocketUrl(address);
  const settings = {
    maxDatagramSize: options.maxDatagramSize ?? WEBRTC_DEFAULT_MAX_DATAGRAM,
    maxBufferedBytes: options.maxBufferedBytes ?? WS_DEFAULT_MAX_BUFFERED,
    closeGraceMs: options.closeGraceMs ?? WS_DEFAULT_CLOSE_GRACE_MS,
  };
  return {
    kind: 'webrtc',
    connect(): Promise<DatagramClientSocket> {
      const g = globalThis as { RTCPeerConnection?: unknown; WebSocket?: unknown };
      const Pc =
        options.RTCPeerConnection ?? (g.RTCPeerConnection as RtcPeerConnectionConstructor | undefined);
      const Ws = options.WebSocket ?? (g.WebSocket as SignallingSocketConstructor | undefined);
      if (!Pc || !Ws) return Promise.reject(new Error('webrtc: no RTCPeerConnection or WebSocket here'));
      return new Promise((resolve, reject) => {
        let ws: SignallingSocketLike | undefined;
        let pc: RtcPeerConnectionLike | undefined;
        let channel: RtcDataChannelLike | undefined;
        let settled = false;
        const fail = (error: Error) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          shut(ws, pc, channel);
          reject(error);
        };
        const timer = setTimeout(
          () => fail(new Error(`webrtc: no data channel within the handshake timeout (${url})`)),
          options.handshakeTimeoutMs ?? WS_DEFAULT_HANDSHAKE_TIMEOUT_MS,
        );
        try {
          ws = new Ws(url);
        } catch (error) {
          fail(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        const signalling = ws;
        signalling.addEventListener('error', () => fail(new Error(`webrtc: signalling to ${url} failed`)));
        signalling.addEventListener('close', () => fail(new Error(`webrtc: signalling to ${url} closed`)));
        const signal = (text: string) => {
          if (text.length <= WEBRTC_MAX_SIGNAL_BYTES) signalling.send(text);
        };
        signalling.addEventListener('open', () => {
          if (settled) return;
          const peer = new Pc({ iceServers: options.iceServers ?? [] });
          pc = peer;
          const dc = peer.createDataChannel(WEBRTC_CHANNEL_LABEL, { ordered: false, maxRetransmits: 0 });
          channel = dc;
          dc.binaryType = 'arraybuffer';
          peer.addEventListener(
            'icecandidate',
            (event: { candidate?: { candidate: string; sdpMid?: string | null } | null }) => {
              const c = event.candidate;
              if (c?.candidate)
                signal(formatSignal({ t: 'candidate', candidate: c.candidate, mid: c.sdpMid ?? '0' }));
            },
          );
          signalling.addEventListener('message', (event: { data: unknown }) => {
            const s = parseSignal(event.data);
            if (!s || settled) return;
            if (s.t === 'answer') {
              peer
                .setRemoteDescription({ type: 'answer', sdp: s.sdp })
                .catch((e: unknown) => fail(new Error(`webrtc: bad answer: ${e}`)));
            } else if (s.t === 'candidate') {
              // a candidate that does not parse is skipped; ICE goes on with the others
              peer.addIceCandidate({ candidate: s.candidate, sdpMid: s.mid }).catch(() => {});
            }
          });
          dc.addEventListener('open', () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve(new WebRtcClientSocket(signalling, peer, dc, settings));
          });
          peer
            .createOffer()
            .then(async (offer) => {
              await peer.setLocalDescription(offer);
              signal(formatSignal({ t: 'offer', sdp: offer.sdp ?? '' }));
            })
            .catch((e: unknown) => fail(new Error(`webrtc: could not make an offer: ${e}`)));
        });
      });
    },
  };
}
