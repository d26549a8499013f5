import { describe, expect, it } from 'vitest';
import { type AuthRequest, OfflineAuthenticator } from '../Authenticator.js';
import { decodeIdentityToken } from '../IdentityToken.js';
import type { ConnectPacket } from '../packets/types.js';
import { Ed25519Authenticator, IdentityRejection } from './Ed25519Authenticator.js';
import { mintIdentityToken } from './identityTokens.js';
import { generateIssuerKeys, rawPublicKey } from './keys.js';

const UUID = '11111111-2222-4333-8444-555555555555';
const NOW = 1_700_000_000_000;
const issuer = generateIssuerKeys('k1');
const other = generateIssuerKeys('k1');
const grant = Uint8Array.of(1, 2, 3, 4);

function request(
  token: Uint8Array | undefined,
  overrides: Partial<ConnectPacket> = {},
  accessToken = grant,
): AuthRequest {
  return {
    connect: {
      type: 'Connect',
      protocolHash: 1n,
      clientType: 'game',
      language: 'en',
      uuid: UUID,
      username: 'ann',
      identityToken: token,
      ...overrides,
    },
    address: 'memory:mem#1',
    authorizationGrant: grant,
    authToken: { type: 'AuthToken', accessToken, serverAuthorizationGrant: Uint8Array.of(9, 9) },
  };
}

const mint = (o: Partial<Parameters<typeof mintIdentityToken>[0]> = {}) =>
  mintIdentityToken({
    uuid: UUID,
    username: 'ann',
    keyId: 'k1',
    privateKey: issuer.privateKey,
    issuedAt: NOW / 1000 - 10,
    ttlSeconds: 600,
    ...o,
  });

describe('Ed25519Authenticator', () => {
  const auth = new Ed25519Authenticator({
    publicKeys: { k1: rawPublicKey(issuer.publicKey) },
    now: () => NOW,
  });

  it('accepts a valid token and decodes its claims', () => {
    const token = mint();
    expect(decodeIdentityToken(token)).toMatchObject({ uuid: UUID, username: 'ann', keyId: 'k1' });
    expect(auth.authenticate(request(token))).toMatchObject({ ok: true });
  });

  it('rejects each failure with a distinct reason', () => {
    const flipped = mint();
    flipped[flipped.length - 1] ^= 1;
    const cases: [AuthRequest, string][] = [
      [request(undefined), IdentityRejection.missing],
      [request(Uint8Array.of(1, 2, 3)), IdentityRejection.malformed],
      [request(mint({ keyId: 'k2' })), IdentityRejection.unknownKey],
      [request(flipped), IdentityRejection.badSignature],
      [request(mint({ privateKey: other.privateKey })), IdentityRejection.badSignature],
      [request(mint({ issuedAt: NOW / 1000 - 7200, ttlSeconds: 60 })), IdentityRejection.expired],
      [request(mint({ issuedAt: NOW / 1000 + 3600 })), IdentityRejection.notYetValid],
      [request(mint({ uuid: '11111111-2222-4333-8444-000000000000' })), IdentityRejection.uuidMismatch],
      [request(mint(), { username: 'bob' }), IdentityRejection.usernameMismatch],
      [request(mint(), {}, Uint8Array.of(0)), IdentityRejection.badAccessToken],
    ];
    for (const [req, reason] of cases) expect(auth.authenticate(req)).toEqual({ ok: false, reason });
    expect(new Set(Object.values(IdentityRejection)).size).toBe(Object.keys(IdentityRejection).length);
  });

  it('signs the server access token when it has an identity', () => {
    const server = generateIssuerKeys('srv');
    const a = new Ed25519Authenticator({
      publicKeys: { k1: issuer.publicKey },
      now: () => NOW,
      serverIdentity: { token: Uint8Array.of(7), privateKey: server.privateKey },
    });
    expect(a.serverIdentityToken()).toEqual(Uint8Array.of(7));
    const d = a.authenticate(request(mint()));
    expect(d.ok && d.serverAccessToken?.length).toBe(64);
  });
});

describe('OfflineAuthenticator', () => {
  it('accepts any identity that answers the grant', () => {
    const a = new OfflineAuthenticator();
    expect(a.authenticate(request(undefined))).toEqual({ ok: true });
    expect(a.authenticate(request(undefined, {}, Uint8Array.of(1)))).toMatchObject({ ok: false });
  });
});
