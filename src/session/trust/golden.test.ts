import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../util/Clock.js';
import { ed25519KeyPairFromSeed } from './ed25519.js';
import {
  decodeTicket,
  issueTicket,
  type MigrationTicketClaims,
  stateDigest,
  verifyTicket,
} from './MigrationTicket.js';
import { InMemoryNonceStore } from './NonceStore.js';
import { decodeReferralToken, issueReferralToken, type ReferralTokenClaims } from './ReferralToken.js';

/**
 * The worked examples of docs/wire/cluster.md, byte for byte. Ed25519 signing is
 * deterministic, so a key from a fixed seed gives fixed signatures. If one of these changes,
 * the ticket or token format changed: update the document in the same change, and remember
 * that backends of two versions must verify each other's tickets during a rolling upgrade.
 */
const key = ed25519KeyPairFromSeed(Uint8Array.from({ length: 32 }, (_, i) => i));
const nonce = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);
const SUBJECT = '00112233-4455-4677-8899-aabbccddeeff';
const T = 1_700_000_000_000;

const ticketClaims: MigrationTicketClaims = {
  issuer: 'a',
  audience: 'b',
  subject: SUBJECT,
  proxySessionId: 7,
  nonce,
  issuedAt: T,
  notBefore: T,
  expiresAt: T + 10_000,
  protocolHash: 0x0123456789abcdefn,
  stateDigest: stateDigest(new TextEncoder().encode('state')),
};

const referralClaims: ReferralTokenClaims = {
  issuer: 'a',
  targetBackendId: 'c',
  subject: SUBJECT,
  issuedAt: T,
  expiresAt: T + 30_000,
  nonce,
  data: new TextEncoder().encode('hi'),
};

const toHex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');

const PUBLIC_KEY =
  '03 a1 07 bf f3 ce 10 be 1d 70 dd 18 e7 4b c0 99 67 e4 d6 30 9b a5 0d 5f 1d dc 86 64 12 55 31 b8';

const TICKET = [
  '01 01 61 01 62 00 11 22 33 44 55 46 77 88 99 aa',
  'bb cc dd ee ff 07 00 00 00 10 11 12 13 14 15 16',
  '17 18 19 1a 1b 1c 1d 1e 1f 80 d0 95 ff bc 31 00',
  '90 4e ef cd ab 89 67 45 23 01 4b a6 97 35 ca 53',
  '76 5e d6 a7 09 ed b5 6c 6e a2 36 b7 19 3a 3b 29',
  'a6 b3 90 c3 46 f0 f4 34 0e 4e fe 0f cc 4b 48 d4',
  '46 89 87 76 52 f2 de 20 37 5f 84 57 43 a3 d4 5a',
  'f8 39 6f 03 c6 f4 fa 17 f8 f6 13 70 0f 23 f5 2d',
  '65 b6 03 f4 d0 8b 01 67 35 f7 62 02 d7 74 ec 9d',
  '14 8f c4 a8 2e ea d8 b3 0f 03',
].join(' ');

const REFERRAL = [
  '01 01 61 01 63 00 11 22 33 44 55 46 77 88 99 aa',
  'bb cc dd ee ff 10 11 12 13 14 15 16 17 18 19 1a',
  '1b 1c 1d 1e 1f 80 d0 95 ff bc 31 b0 ea 01 02 68',
  '69 fd 04 f3 ad df 93 23 c5 12 92 b9 33 08 73 a6',
  'd0 c6 04 87 ea 74 5e 4f 5a 77 f9 f1 94 a0 43 31',
  'c6 63 50 88 12 4a 41 db b1 0f 01 7a f1 2d d1 20',
  'ad 46 96 5b 71 b0 97 ab 46 b9 85 0f 6c bd 72 2c',
  '0c',
].join(' ');

/** Field-by-field pieces the document's tables show. */
const TICKET_FIELDS = [
  '01',
  '01 61',
  '01 62',
  '00 11 22 33 44 55 46 77 88 99 aa bb cc dd ee ff',
  '07 00 00 00',
  '10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f',
  '80 d0 95 ff bc 31',
  '00',
  '90 4e',
  'ef cd ab 89 67 45 23 01',
];

const doc = () => readFileSync(new URL('../../../docs/wire/cluster.md', import.meta.url), 'utf8');
const flat = (text: string) => text.replace(/\s+/g, ' ');

describe('golden bytes (docs/wire/cluster.md)', () => {
  it('the fixed key has the documented public key', () => {
    expect(toHex(key.publicKeyRaw)).toBe(PUBLIC_KEY);
  });

  it('migration ticket → the documented bytes, and back', async () => {
    const bytes = issueTicket(ticketClaims, key.privateKey);
    expect(toHex(bytes)).toBe(TICKET);
    expect(toHex(bytes).startsWith(TICKET_FIELDS.join(' '))).toBe(true);
    expect(decodeTicket(bytes).claims).toEqual(ticketClaims);
    const clock = new ManualClock(T);
    const verdict = await verifyTicket(bytes, {
      expectedAudience: 'b',
      expectedSubject: SUBJECT,
      expectedProtocolHash: 0x0123456789abcdefn,
      stateBytes: new TextEncoder().encode('state'),
      publicKeyOf: () => key.publicKeyRaw,
      nonceStore: new InMemoryNonceStore({ clock }),
      clock,
    });
    expect(verdict.ok).toBe(true);
  });

  it('referral token → the documented bytes, and back', () => {
    const bytes = issueReferralToken(referralClaims, key.privateKey);
    expect(toHex(bytes)).toBe(REFERRAL);
    expect(decodeReferralToken(bytes).claims).toEqual(referralClaims);
  });

  it('every golden byte string appears in docs/wire/cluster.md', () => {
    const text = flat(doc());
    const missing = [PUBLIC_KEY, TICKET, REFERRAL, ...TICKET_FIELDS.map((f) => `\`${f}\``)].filter(
      (hex) => !text.includes(hex),
    );
    expect(missing).toEqual([]);
  });
});
