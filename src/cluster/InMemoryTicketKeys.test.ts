import { describe, expect, it } from 'vitest';
import { ed25519KeyPairFromSeed, rawPublicKey, toPublicKey } from '../session/trust/ed25519.js';
import {
  issueTicket,
  type PublicKeyLookup,
  stateDigest,
  verifyTicket,
} from '../session/trust/MigrationTicket.js';
import { InMemoryNonceStore } from '../session/trust/NonceStore.js';
import { ManualClock } from '../util/Clock.js';
import { InMemoryRegistry, InMemoryTicketKeys, registryKeyLookup } from './index.js';

const T0 = 1_700_000_000_000;
const SUBJECT = '11111111-2222-4333-8444-555555555555';

function hex(s: string): Uint8Array {
  return Uint8Array.from(s.match(/../g)!.map((h) => Number.parseInt(h, 16)));
}

describe('Ed25519 keys', () => {
  it('a seed gives the RFC 8032 key pair (test vector 1)', () => {
    const pair = ed25519KeyPairFromSeed(
      hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'),
    );
    expect(Buffer.from(pair.publicKeyRaw).toString('hex')).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    );
  });

  it('converts between raw, PEM and KeyObject and refuses other key types', () => {
    const pair = ed25519KeyPairFromSeed(new Uint8Array(32).fill(3));
    const pem = pair.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(rawPublicKey(pem)).toEqual(pair.publicKeyRaw);
    expect(toPublicKey(pair.publicKeyRaw).equals(pair.publicKey)).toBe(true);
    expect(() => toPublicKey(new Uint8Array(33))).toThrow(TypeError);
    expect(() => ed25519KeyPairFromSeed(new Uint8Array(31))).toThrow(TypeError);
  });
});

describe('InMemoryTicketKeys', () => {
  function claims(issuer: string) {
    return {
      issuer,
      audience: 'b',
      subject: SUBJECT,
      proxySessionId: 1,
      nonce: new Uint8Array(16).fill(issuer.length),
      issuedAt: T0,
      notBefore: T0,
      expiresAt: T0 + 5000,
      protocolHash: 1n,
      stateDigest: stateDigest(new Uint8Array(0)),
    };
  }

  function verifyOptions(publicKeyOf: PublicKeyLookup) {
    const clock = new ManualClock(T0);
    return {
      expectedAudience: 'b',
      expectedSubject: SUBJECT,
      expectedProtocolHash: 1n,
      stateBytes: new Uint8Array(0),
      publicKeyOf,
      nonceStore: new InMemoryNonceStore({ clock }),
      clock,
    };
  }

  it('generates a pair per backend; tickets verify through publicKeyOf', async () => {
    const keys = new InMemoryTicketKeys();
    const a = await keys.generate('a');
    const c = await keys.generate('c');
    expect(a.publicKeyRaw).not.toEqual(c.publicKeyRaw);
    expect(keys.keyPairOf('a')).toBe(a);
    expect((await keys.publicKeyOf('a'))?.equals(a.publicKey)).toBe(true);
    expect(await keys.publicKeyOf('zzz')).toBeUndefined();
    const verdict = await verifyTicket(
      issueTicket(claims('a'), a.privateKey),
      verifyOptions((id) => keys.publicKeyOf(id)),
    );
    expect(verdict.ok).toBe(true);
    // c's key does not pass for a's
    const forged = await verifyTicket(
      issueTicket(claims('a'), c.privateKey),
      verifyOptions((id) => keys.publicKeyOf(id)),
    );
    expect(forged).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('publish replaces a key (dropping a stale local pair); remove withdraws it', async () => {
    const keys = new InMemoryTicketKeys();
    const old = await keys.generate('a');
    const fresh = ed25519KeyPairFromSeed(new Uint8Array(32).fill(9));
    await keys.publish('a', fresh.publicKeyRaw);
    expect(keys.keyPairOf('a')).toBeUndefined();
    const lookup = (id: string) => keys.publicKeyOf(id);
    expect(await verifyTicket(issueTicket(claims('a'), old.privateKey), verifyOptions(lookup))).toMatchObject(
      {
        reason: 'bad-signature',
      },
    );
    expect((await verifyTicket(issueTicket(claims('a'), fresh.privateKey), verifyOptions(lookup))).ok).toBe(
      true,
    );
    expect(await keys.remove('a')).toBe(true);
    expect(await keys.remove('a')).toBe(false);
    expect(
      await verifyTicket(issueTicket(claims('a'), fresh.privateKey), verifyOptions(lookup)),
    ).toMatchObject({
      reason: 'unknown-issuer',
    });
  });

  it('registryKeyLookup reads the keys backends registered', async () => {
    const registry = new InMemoryRegistry();
    const pair = ed25519KeyPairFromSeed(new Uint8Array(32).fill(5));
    await registry.register({
      id: 'a',
      pool: 'p',
      address: { host: '127.0.0.1', port: 1 },
      capacity: 1,
      publicKey: pair.publicKey,
    });
    const verdict = await verifyTicket(
      issueTicket(claims('a'), pair.privateKey),
      verifyOptions(registryKeyLookup(registry)),
    );
    expect(verdict.ok).toBe(true);
  });
});
