// oidc-provider (OpenID Certified) as an upstream OpenID Provider for
// Atrium's federation tests. One confidential client; every login shown
// on its built-in development pages (devInteractions) signs in as an
// account with a fixed, verified profile.
//
// Env: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI (all required).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const port = Number(env('PORT'));
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'upstream-es256' };

const profile = (sub) => ({
  sub,
  email: 'ada@oidc-upstream.test',
  email_verified: true,
  name: 'Ada Upstream',
  given_name: 'Ada',
  family_name: 'Upstream',
  locale: 'en-GB',
  picture: 'https://oidc-upstream.test/ada.png',
});

const provider = new Provider(issuer, {
  clients: [{
    client_id: env('CLIENT_ID'),
    client_secret: env('CLIENT_SECRET'),
    redirect_uris: [env('REDIRECT_URI')],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'locale', 'picture'],
  },
  findAccount: async (_ctx, id) => ({ accountId: id, claims: () => profile(id) }),
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
});

provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
