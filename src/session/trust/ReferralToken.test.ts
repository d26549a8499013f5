import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EncodeError } from '../../serde/DecodeError.js';
import { ManualClock } from '../../util/Clock.js';
import { ed25519KeyPairFromSeed } from './ed25519.js';
import { InMemoryNonceStore } from './NonceStore.js';
import {
  createReferralClaims,
  decodeReferralToken,
  issueReferralToken,
  REFERRAL_TOKEN_MAX_BYTES,
  type ReferralRejection,
  type ReferralTokenClaims,
  type VerifyReferralOptions,
  verifyReferralToken,
} from './ReferralToken.js';

const RUNS = process.env.BATON_DEEP === '1' ? 5_000 : 200;
const T0 = 1_700_000_000_000;
const keyA = ed25519KeyPairFromSeed(new Uint8Array(32).fill(0x0a));
const keyOther = ed25519KeyPairFromSeed(new Uint8Array(32).fill(0x0b));
const SUBJECT = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

function claims(overrides: Partial<ReferralTokenClaims> = {}): ReferralTokenClaims {
  return {
    issuer: 'backend-a',
    targetBackendId: 'backend-c',
    subject: SUBJECT,
    issuedAt: T0,
    expiresAt: T0 + 30_000,
    nonce: new Uint8Array(16).fill(0x5a),
    data: new TextEncoder().encode('{"party":7}'),
    ...overrides,
  };
}

function setup() {
  const clock = new ManualClock(T0 + 500);
  const options = (overrides: Partial<VerifyReferralOptions> = {}): VerifyReferralOptions => ({
    expectedTarget: 'backend-c',
    expectedSubject: SUBJECT,
    publicKeyOf: (issuer) => (issuer === 'backend-a' ? keyA.publicKeyRaw : undefined),
    nonceStore: new InMemoryNonceStore({ clock }),
    clock,
    ...overrides,
  });
  return { clock, options };
}

async function reasonOf(
  token: Uint8Array,
  options: VerifyReferralOptions,
): Promise<ReferralRejection | 'ok'> {
  const verdict = await verifyReferralToken(token, options);
  return verdict.ok ? 'ok' : verdict.reason;
}

describe('referral token', () => {
  it('a valid token verifies and returns its claims; with a nonce store it is single use', async () => {
    const { options } = setup();
    const opts = options();
    const token = issueReferralToken(claims(), keyA.privateKey);
    const verdict = await verifyReferralToken(token, opts);
    expect(verdict).toEqual({ ok: true, claims: claims() });
    expect(await reasonOf(token, opts)).toBe('replayed');
    // without a nonce store the target decides about reuse itself
    expect(await reasonOf(token, options({ nonceStore: undefined }))).toBe('ok');
  });

  it('each refusal has its own reason', async () => {
    const { options, clock } = setup();
    const good = issueReferralToken(claims(), keyA.privateKey);
    expect(await reasonOf(Uint8Array.of(1, 2), options())).toBe('malformed');
    expect(
      await reasonOf(issueReferralToken(claims({ issuer: 'backend-z' }), keyA.privateKey), options()),
    ).toBe('unknown-issuer');
    expect(await reasonOf(issueReferralToken(claims(), keyOther.privateKey), options())).toBe(
      'bad-signature',
    );
    expect(await reasonOf(good, options({ expectedTarget: 'backend-d' }))).toBe('wrong-target');
    expect(await reasonOf(good, options({ expectedSubject: '00000000-0000-4000-8000-000000000000' }))).toBe(
      'wrong-subject',
    );
    expect(await reasonOf(good, options({ maxTtlMs: 10_000 }))).toBe('ttl-too-long');
    clock.set(T0 - 2001);
    expect(await reasonOf(good, options())).toBe('not-yet-valid');
    clock.set(T0 + 30_000 + 2000);
    expect(await reasonOf(good, options())).toBe('expired');
  });

  it('tampering with any byte is refused', async () => {
    const { options } = setup();
    const token = issueReferralToken(claims(), keyA.privateKey);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: token.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        async (index, flip) => {
          const tampered = token.slice();
          tampered[index] ^= flip;
          expect(['malformed', 'bad-signature', 'unknown-issuer']).toContain(
            await reasonOf(tampered, options()),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('fuzz: garbage is refused as malformed (or fails the signature), never thrown', async () => {
    const { options } = setup();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), async (garbage) => {
        expect(await reasonOf(garbage, options())).not.toBe('ok');
      }),
      { numRuns: RUNS },
    );
  });

  it('the whole token stays within 4096 bytes', async () => {
    const { options } = setup();
    const overhead = issueReferralToken(claims({ data: new Uint8Array(0) }), keyA.privateKey).length;
    // the data length prefix grows from 1 to 2 bytes past 127
    const maxData = REFERRAL_TOKEN_MAX_BYTES - overhead - 1;
    const fits = issueReferralToken(claims({ data: new Uint8Array(maxData).fill(1) }), keyA.privateKey);
    expect(fits.length).toBe(REFERRAL_TOKEN_MAX_BYTES);
    expect(await reasonOf(fits, options())).toBe('ok');
    expect(() => issueReferralToken(claims({ data: new Uint8Array(maxData + 1) }), keyA.privateKey)).toThrow(
      EncodeError,
    );
    const tooLong = new Uint8Array(REFERRAL_TOKEN_MAX_BYTES + 1);
    tooLong.set(fits);
    expect(await reasonOf(tooLong, options())).toBe('malformed');
  });

  it('issue refuses a TTL of zero or beyond the limit; createReferralClaims fills nonce and times', () => {
    expect(() => issueReferralToken(claims({ expiresAt: T0 }), keyA.privateKey)).toThrow(EncodeError);
    expect(() => issueReferralToken(claims({ expiresAt: T0 + 60_001 }), keyA.privateKey)).toThrow(
      EncodeError,
    );
    expect(() =>
      issueReferralToken(claims({ expiresAt: T0 + 120_000 }), keyA.privateKey, { maxTtlMs: 120_000 }),
    ).not.toThrow();
    const made = createReferralClaims({
      issuer: 'a',
      targetBackendId: 'c',
      subject: SUBJECT,
      clock: new ManualClock(T0),
    });
    expect(made).toMatchObject({ issuedAt: T0, expiresAt: T0 + 30_000, data: new Uint8Array(0) });
    expect(made.nonce).toHaveLength(16);
    expect(decodeReferralToken(issueReferralToken(made, keyA.privateKey)).claims).toEqual(made);
  });
});
