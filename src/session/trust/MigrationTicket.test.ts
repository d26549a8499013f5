import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EncodeError } from '../../serde/DecodeError.js';
import { ManualClock } from '../../util/Clock.js';
import { ed25519KeyPairFromSeed, type PublicKeyInput, signWithContext } from './ed25519.js';
import {
  createTicketClaims,
  decodeTicket,
  encodeTicketBody,
  issueTicket,
  MAX_TICKET_TTL_MS,
  type MigrationTicketClaims,
  stateDigest,
  TICKET_SIGNING_CONTEXT,
  type TicketRejection,
  type VerifyTicketOptions,
  verifyTicket,
} from './MigrationTicket.js';
import { InMemoryNonceStore } from './NonceStore.js';

const RUNS = process.env.BATON_DEEP === '1' ? 5_000 : 200;

const T0 = 1_700_000_000_000;
const keyA = ed25519KeyPairFromSeed(new Uint8Array(32).fill(0xa1));
const keyB = ed25519KeyPairFromSeed(new Uint8Array(32).fill(0xb2));
const keyMallory = ed25519KeyPairFromSeed(new Uint8Array(32).fill(0xee));
const SUBJECT = '0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0';
const STATE = new TextEncoder().encode('player state: hp=100, x=3, y=4');
const PROTOCOL = 0x0123456789abcdefn;

function claims(overrides: Partial<MigrationTicketClaims> = {}): MigrationTicketClaims {
  return {
    issuer: 'backend-a',
    audience: 'backend-b',
    subject: SUBJECT,
    proxySessionId: 42,
    nonce: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
    issuedAt: T0,
    notBefore: T0,
    expiresAt: T0 + 10_000,
    protocolHash: PROTOCOL,
    stateDigest: stateDigest(STATE),
    ...overrides,
  };
}

function setup() {
  const clock = new ManualClock(T0 + 1000);
  const nonceStore = new InMemoryNonceStore({ clock });
  const keys = new Map<string, PublicKeyInput>([
    ['backend-a', keyA.publicKeyRaw],
    ['backend-b', keyB.publicKey],
  ]);
  const options = (overrides: Partial<VerifyTicketOptions> = {}): VerifyTicketOptions => ({
    expectedAudience: 'backend-b',
    expectedSubject: SUBJECT,
    expectedProtocolHash: PROTOCOL,
    expectedProxySessionId: 42,
    stateBytes: STATE,
    publicKeyOf: (issuer) => keys.get(issuer),
    nonceStore,
    clock,
    clockSkewMs: 2000,
    ...overrides,
  });
  return { clock, nonceStore, options };
}

async function reasonOf(ticket: Uint8Array, options: VerifyTicketOptions): Promise<TicketRejection | 'ok'> {
  const verdict = await verifyTicket(ticket, options);
  return verdict.ok ? 'ok' : verdict.reason;
}

/** A ticket signed by `backend-a` whatever its claims (bypasses issueTicket's TTL policy). */
function forge(c: MigrationTicketClaims, key = keyA.privateKey): Uint8Array {
  const body = encodeTicketBody(c);
  const signature = signWithContext(TICKET_SIGNING_CONTEXT, body, key);
  const out = new Uint8Array(body.length + signature.length);
  out.set(body);
  out.set(signature, body.length);
  return out;
}

describe('migration ticket', () => {
  it('a valid ticket is accepted exactly once; the second time it is replayed', async () => {
    const { options } = setup();
    const ticket = issueTicket(claims(), keyA.privateKey);
    const first = await verifyTicket(ticket, options());
    expect(first.ok).toBe(true);
    if (first.ok) expect(first.claims).toEqual(claims());
    expect(await reasonOf(ticket, options())).toBe('replayed');
  });

  it('accepts the digest instead of the state bytes', async () => {
    const { options } = setup();
    const ticket = issueTicket(claims(), keyA.privateKey);
    expect(await reasonOf(ticket, options({ stateBytes: undefined, stateDigest: stateDigest(STATE) }))).toBe(
      'ok',
    );
  });

  it('malformed: garbage, truncation, a trailing byte, an unknown version', async () => {
    const { options } = setup();
    const ticket = issueTicket(claims(), keyA.privateKey);
    const trailing = new Uint8Array(ticket.length + 1);
    trailing.set(ticket);
    const version2 = ticket.slice();
    version2[0] = 2;
    for (const bad of [
      new Uint8Array(0),
      Uint8Array.of(1, 2, 3),
      ticket.subarray(0, ticket.length - 1),
      trailing,
      version2,
    ]) {
      expect(await reasonOf(bad, options())).toBe('malformed');
    }
    expect(await reasonOf(new Uint8Array(10_000), options())).toBe('malformed');
  });

  it('unknown-issuer: no key for the issuer', async () => {
    const { options } = setup();
    const ticket = forge(claims({ issuer: 'backend-x' }));
    expect(await reasonOf(ticket, options())).toBe('unknown-issuer');
  });

  it('bad-signature: a changed claim, a changed signature, or another key claiming the issuer', async () => {
    const { options } = setup();
    const ticket = issueTicket(claims(), keyA.privateKey);
    const changedClaim = ticket.slice();
    // proxySessionId lives right after the subject; bump it without breaking the layout
    const at = 1 + 1 + 'backend-a'.length + 1 + 'backend-b'.length + 16;
    changedClaim[at] ^= 1;
    const changedSignature = ticket.slice();
    changedSignature[ticket.length - 1] ^= 0x80;
    expect(await reasonOf(changedClaim, options({ expectedProxySessionId: undefined }))).toBe(
      'bad-signature',
    );
    expect(await reasonOf(changedSignature, options())).toBe('bad-signature');
    expect(await reasonOf(forge(claims(), keyMallory.privateKey), options())).toBe('bad-signature');
  });

  it('ttl-too-long: a signed ticket living longer than 30 s', async () => {
    const { options } = setup();
    const ticket = forge(claims({ expiresAt: T0 + MAX_TICKET_TTL_MS + 1 }));
    expect(await reasonOf(ticket, options())).toBe('ttl-too-long');
    expect(await reasonOf(forge(claims({ expiresAt: T0 + MAX_TICKET_TTL_MS })), options())).toBe('ok');
  });

  it('wrong-audience: a ticket for another backend', async () => {
    const { options } = setup();
    const ticket = issueTicket(claims({ audience: 'backend-c' }), keyA.privateKey);
    expect(await reasonOf(ticket, options())).toBe('wrong-audience');
  });

  it('wrong-subject: a ticket for another client', async () => {
    const { options } = setup();
    const ticket = issueTicket(claims(), keyA.privateKey);
    expect(await reasonOf(ticket, options({ expectedSubject: '00000000-0000-4000-8000-000000000000' }))).toBe(
      'wrong-subject',
    );
    // the same UUID in upper case is the same subject
    expect(await reasonOf(ticket, options({ expectedSubject: SUBJECT.toUpperCase() }))).toBe('ok');
  });

  it('wrong-session: a ticket for another proxy session', async () => {
    const { options } = setup();
    const ticket = issueTicket(claims(), keyA.privateKey);
    expect(await reasonOf(ticket, options({ expectedProxySessionId: 43 }))).toBe('wrong-session');
  });

  it('wrong-protocol: built for another protocol hash', async () => {
    const { options } = setup();
    const ticket = issueTicket(claims(), keyA.privateKey);
    expect(await reasonOf(ticket, options({ expectedProtocolHash: PROTOCOL + 1n }))).toBe('wrong-protocol');
  });

  it('expired: past expiresAt + skew', async () => {
    const { options, clock } = setup();
    const ticket = issueTicket(claims(), keyA.privateKey);
    clock.set(T0 + 10_000 + 2000);
    expect(await reasonOf(ticket, options())).toBe('expired');
    clock.set(T0 + 10_000 + 1999);
    expect(await reasonOf(ticket, options())).toBe('ok');
  });

  it('not-yet-valid: before notBefore − skew', async () => {
    const { options, clock } = setup();
    const ticket = issueTicket(claims({ notBefore: T0 + 5000 }), keyA.privateKey);
    clock.set(T0 + 5000 - 2001);
    expect(await reasonOf(ticket, options())).toBe('not-yet-valid');
    clock.set(T0 + 5000 - 2000);
    expect(await reasonOf(ticket, options())).toBe('ok');
  });

  it('state-digest-mismatch: the handed-off state is not the one signed', async () => {
    const { options } = setup();
    const ticket = issueTicket(claims(), keyA.privateKey);
    expect(await reasonOf(ticket, options({ stateBytes: new TextEncoder().encode('other state') }))).toBe(
      'state-digest-mismatch',
    );
    expect(await reasonOf(ticket, options({ stateBytes: undefined, stateDigest: new Uint8Array(32) }))).toBe(
      'state-digest-mismatch',
    );
  });

  it('a refused ticket does not burn its nonce', async () => {
    const { options } = setup();
    const ticket = issueTicket(claims(), keyA.privateKey);
    expect(await reasonOf(ticket, options({ expectedAudience: 'backend-c' }))).toBe('wrong-audience');
    expect(await reasonOf(ticket, options({ stateBytes: new Uint8Array(1) }))).toBe('state-digest-mismatch');
    expect(await reasonOf(ticket, options())).toBe('ok');
  });

  it('issueTicket refuses claims no verifier would accept', () => {
    expect(() => issueTicket(claims({ expiresAt: T0 + MAX_TICKET_TTL_MS + 1 }), keyA.privateKey)).toThrow(
      EncodeError,
    );
    expect(() => issueTicket(claims({ expiresAt: T0 }), keyA.privateKey)).toThrow(EncodeError);
    expect(() => issueTicket(claims({ notBefore: T0 + 20_000 }), keyA.privateKey)).toThrow(EncodeError);
    expect(() => issueTicket(claims({ nonce: new Uint8Array(8) }), keyA.privateKey)).toThrow(EncodeError);
    expect(() => issueTicket(claims({ subject: 'player-1' }), keyA.privateKey)).toThrow(EncodeError);
    expect(() => issueTicket(claims({ issuer: 'x'.repeat(65) }), keyA.privateKey)).toThrow(EncodeError);
    expect(() => issueTicket(claims({ protocolHash: 1n << 64n }), keyA.privateKey)).toThrow(EncodeError);
    expect(() => issueTicket(claims({ proxySessionId: -1 }), keyA.privateKey)).toThrow(EncodeError);
  });

  it('createTicketClaims fills a random nonce, the times and the digest', async () => {
    const { options, clock } = setup();
    const made = createTicketClaims({
      issuer: 'backend-a',
      audience: 'backend-b',
      subject: SUBJECT,
      proxySessionId: 42,
      protocolHash: PROTOCOL,
      state: STATE,
      clock,
    });
    expect(made.issuedAt).toBe(clock.now());
    expect(made.expiresAt - made.issuedAt).toBe(10_000);
    expect(made.nonce).toHaveLength(16);
    const other = createTicketClaims({ ...made, state: STATE, clock });
    expect(Buffer.from(other.nonce).equals(Buffer.from(made.nonce))).toBe(false);
    expect(await reasonOf(issueTicket(made, keyA.privateKey), options())).toBe('ok');
  });

  const claimsArb = fc.record({
    issuer: fc.string({ minLength: 1, maxLength: 20 }),
    audience: fc.string({ minLength: 1, maxLength: 20 }),
    subject: fc.uuid(),
    proxySessionId: fc.integer({ min: 0, max: 0xffffffff }),
    nonce: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    issuedAt: fc.integer({ min: 0, max: 2 ** 45 }),
    notBeforeOffset: fc.integer({ min: 0, max: 15_000 }),
    ttl: fc.integer({ min: 15_001, max: MAX_TICKET_TTL_MS }),
    protocolHash: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    stateDigest: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  });

  it('property: encoding round-trips every valid claim set', () => {
    fc.assert(
      fc.property(claimsArb, (a) => {
        const c: MigrationTicketClaims = {
          issuer: a.issuer,
          audience: a.audience,
          subject: a.subject,
          proxySessionId: a.proxySessionId,
          nonce: a.nonce,
          issuedAt: a.issuedAt,
          notBefore: a.issuedAt + a.notBeforeOffset,
          expiresAt: a.issuedAt + a.ttl,
          protocolHash: a.protocolHash,
          stateDigest: a.stateDigest,
        };
        const decoded = decodeTicket(issueTicket(c, keyA.privateKey));
        expect(decoded.claims).toEqual({ ...c, subject: c.subject.toLowerCase() });
      }),
      { numRuns: RUNS },
    );
  });

  it('fuzz: garbage and mutated tickets are refused, never thrown, and never accepted', async () => {
    const { options } = setup();
    const valid = issueTicket(claims(), keyA.privateKey);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (garbage) => {
        const reason = await reasonOf(garbage, options());
        expect(reason).not.toBe('ok');
      }),
      { numRuns: RUNS },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: valid.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        async (index, flip) => {
          const mutated = valid.slice();
          mutated[index] ^= flip;
          const reason = await reasonOf(mutated, options({ expectedProxySessionId: undefined }));
          expect(['malformed', 'bad-signature', 'unknown-issuer']).toContain(reason);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
