import { describe, expect, it } from 'vitest';
import {
  createTicketClaims,
  generateEd25519KeyPair,
  InMemoryNonceStore,
  InMemoryTicketKeys,
  issueTicket,
} from '../cluster/index.js';
import { ManualClock } from '../util/Clock.js';
import { BackendTickets } from './BackendTickets.js';

const UUID = '00112233-4455-6677-8899-aabbccddeeff';
const OTHER = '00112233-4455-6677-8899-aabbccddeef0';
const HASH = 0x0123456789abcdefn;
const state = new TextEncoder().encode('player state');

async function setup() {
  const clock = new ManualClock(1_700_000_000_000);
  const keys = new InMemoryTicketKeys();
  const a = await keys.generate('backend-a');
  await keys.generate('backend-b');
  const nonceStore = new InMemoryNonceStore({ clock });
  const common = { publicKeyOf: (id: string) => keys.publicKeyOf(id), nonceStore, clock };
  const source = new BackendTickets('backend-a', HASH, { ...common, privateKey: a.privateKey });
  const target = new BackendTickets('backend-b', HASH, common);
  return { clock, keys, source, target, a };
}

describe('backend migration tickets', () => {
  it('a valid ticket is accepted exactly once; each defect is refused with its own reason', async () => {
    const { clock, source, target, a } = await setup();
    const good = source.issue(UUID, 7, 'backend-b', state);
    const present = { uuid: UUID, proxySessionId: 7, state };

    const forged = good.slice();
    forged[forged.length - 1] ^= 1;
    const otherKey = generateEd25519KeyPair();
    const signedByStranger = issueTicket(
      createTicketClaims({
        issuer: 'backend-a',
        audience: 'backend-b',
        subject: UUID,
        proxySessionId: 7,
        protocolHash: HASH,
        state,
        clock,
      }),
      otherKey.privateKey,
    );
    const wrongAudience = source.issue(UUID, 7, 'backend-c', state);
    const wrongProtocol = issueTicket(
      createTicketClaims({
        issuer: 'backend-a',
        audience: 'backend-b',
        subject: UUID,
        proxySessionId: 7,
        protocolHash: HASH + 1n,
        state,
        clock,
      }),
      a.privateKey,
    );
    const future = createTicketClaims({
      issuer: 'backend-a',
      audience: 'backend-b',
      subject: UUID,
      proxySessionId: 7,
      protocolHash: HASH,
      state,
      clock,
    });
    const notYet = issueTicket(
      { ...future, notBefore: future.issuedAt + 10_000, expiresAt: future.issuedAt + 20_000 },
      a.privateKey,
    );

    const reasons = async (ticket: Uint8Array, p = present) => {
      const v = await target.verify(ticket, p);
      return v.ok ? 'ok' : v.reason;
    };
    expect(await reasons(forged)).toBe('bad-signature');
    expect(await reasons(signedByStranger)).toBe('bad-signature');
    expect(await reasons(wrongAudience)).toBe('wrong-audience');
    expect(await reasons(good, { ...present, uuid: OTHER })).toBe('wrong-subject');
    expect(await reasons(good, { ...present, proxySessionId: 8 })).toBe('wrong-session');
    expect(await reasons(wrongProtocol)).toBe('wrong-protocol');
    expect(await reasons(notYet)).toBe('not-yet-valid');
    expect(await reasons(good, { ...present, state: new TextEncoder().encode('other state') })).toBe(
      'state-digest-mismatch',
    );
    expect(await reasons(new Uint8Array([1, 2, 3]))).toBe('malformed');
    // none of the refusals above burnt the nonce: the good ticket still passes, once
    expect(await reasons(good)).toBe('ok');
    expect(await reasons(good)).toBe('replayed');
    const late = source.issue(UUID, 7, 'backend-b', state);
    clock.advance(15_000);
    expect(await reasons(late)).toBe('expired');
    expect(target.accepted).toBe(1);
    expect(target.rejected).toMatchObject({
      'bad-signature': 2,
      replayed: 1,
      expired: 1,
      'wrong-audience': 1,
    });
    expect(source.issued).toBe(3);
  });

  it('a backend without keys cannot issue', async () => {
    const t = new BackendTickets('backend-x', HASH, {});
    expect(t.canIssue).toBe(false);
    expect(t.canVerify).toBe(false);
    expect(() => t.issue(UUID, 1, 'backend-b', state)).toThrow(/no ticket signing key/);
  });
});
