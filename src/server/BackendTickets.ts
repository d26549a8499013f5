/**
 * Migration tickets on a backend (DESIGN §5 "Tickets"): the source backend signs one for a
 * player it hands off, the target verifies it. Thin policy over `src/cluster`'s
 * `issueTicket`/`verifyTicket`: the backend's own id, key and nonce store are configured once.
 */

import type { PrivateKeyInput } from '../session/trust/ed25519.js';
import {
  createTicketClaims,
  issueTicket,
  type PublicKeyLookup,
  type TicketVerdict,
  verifyTicket,
} from '../session/trust/MigrationTicket.js';
import type { NonceStore } from '../session/trust/NonceStore.js';
import type { Clock } from '../util/Clock.js';

/** A backend's ticket configuration. Without it, the backend can neither issue nor verify tickets. */
export interface BackendTicketOptions {
  /** This backend's Ed25519 signing key (its public half is in TicketKeys / the registry). */
  privateKey?: PrivateKeyInput;
  /** Public keys of issuing backends (e.g. `ticketKeys.publicKeyOf`). */
  publicKeyOf?: PublicKeyLookup;
  /** Single-use nonces (shared by every backend of a pool in production). */
  nonceStore?: NonceStore;
  /** Lifetime of issued tickets (default 10 000 ms, at most 30 000). */
  ttlMs?: number;
  /** Wall clock (default Date.now). */
  clock?: Clock;
  /** Tolerated clock difference (default 2000 ms). */
  clockSkewMs?: number;
}

/** What the target expects of a presented ticket. */
export interface TicketPresentation {
  /** UUID of the player the proxy presents. */
  uuid: string;
  /** Proxy session id the ticket must name (when known). */
  proxySessionId?: number;
  /** The handed-off state as received. */
  state: Uint8Array;
}

/** Issues and verifies this backend's migration tickets. */
export class BackendTickets {
  issued = 0;
  accepted = 0;
  /** Rejections by reason. */
  readonly rejected: Record<string, number> = {};

  constructor(
    readonly backendId: string,
    private readonly protocolHash: bigint,
    private readonly o: BackendTicketOptions,
  ) {}

  /** Whether this backend can sign tickets. */
  get canIssue(): boolean {
    return this.o.privateKey !== undefined;
  }

  /** Whether this backend can verify tickets. */
  get canVerify(): boolean {
    return this.o.publicKeyOf !== undefined && this.o.nonceStore !== undefined;
  }

  /** Sign a ticket handing player `uuid` (proxy session `proxySessionId`) with `state` to `audience`. */
  issue(uuid: string, proxySessionId: number, audience: string, state: Uint8Array): Uint8Array {
    if (!this.o.privateKey) throw new Error(`backend '${this.backendId}' has no ticket signing key`);
    const ticket = issueTicket(
      createTicketClaims({
        issuer: this.backendId,
        audience,
        subject: uuid,
        proxySessionId,
        protocolHash: this.protocolHash,
        state,
        ttlMs: this.o.ttlMs,
        clock: this.o.clock,
      }),
      this.o.privateKey,
    );
    this.issued++;
    return ticket;
  }

  /** Verify a ticket presented for a player arriving here; each failure has its own reason. */
  async verify(ticket: Uint8Array, p: TicketPresentation): Promise<TicketVerdict> {
    if (!this.o.publicKeyOf || !this.o.nonceStore) {
      throw new Error(
        `backend '${this.backendId}' cannot verify tickets (publicKeyOf and nonceStore needed)`,
      );
    }
    const verdict = await verifyTicket(ticket, {
      expectedAudience: this.backendId,
      expectedSubject: p.uuid,
      expectedProtocolHash: this.protocolHash,
      expectedProxySessionId: p.proxySessionId,
      stateBytes: p.state,
      publicKeyOf: this.o.publicKeyOf,
      nonceStore: this.o.nonceStore,
      clock: this.o.clock,
      clockSkewMs: this.o.clockSkewMs,
    });
    if (verdict.ok) this.accepted++;
    else this.rejected[verdict.reason] = (this.rejected[verdict.reason] ?? 0) + 1;
    return verdict;
  }
}
