// oidc-provider configured like Atrium, as the peer in bench/compare.
//
// Env: PORT (required), BENCH_CLIENT_SECRET, BENCH_USER and BENCH_PASSWORD
// (the one account), SIGNING_ALG (RS256 or ES256, for ID tokens).
// Plain http on 127.0.0.1: nothing here needs https on loopback, and the
// cookies are simply not marked Secure.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const alg = process.env.SIGNING_ALG || 'RS256';
const benchUser = process.env.BENCH_USER || 'bench@example.com';
// Atrium's password hash: argon2id, 64 MiB, 3 passes, 2 lanes.
const passwordHash = await hash(process.env.BENCH_PASSWORD || 'bench-password-1', {
  algorithm: 2, memoryCost: 64 * 1024, timeCost: 3, parallelism: 2,
});

// Unbounded in-memory storage with expiry. The bundled MemoryAdapter is an
// LRU of 1,000 entries, which under load evicts live sessions and tokens.
const store = new Map(); // key -> { value, exp (ms epoch or Infinity) }
const get = (key) => {
  const e = store.get(key);
  if (!e) return undefined;
  if (e.exp <= Date.now()) { store.delete(key); return undefined; }
  return e.value;
};
const set = (key, value, expiresIn) => store.set(key, {
  value, exp: expiresIn ? Date.now() + expiresIn * 1000 : Infinity,
});
setInterval(() => {
  const now = Date.now();
  for (const [k, e] of store) if (e.exp <= now) store.delete(k);
}, 60_000).unref();

class MapAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async upsert(id, payload, expiresIn) {
    set(this.key(id), payload, expiresIn);
    if (payload.grantId) {
      const gk = `grant:${payload.grantId}`;
      const members = get(gk) || [];
      members.push(this.key(id));
      set(gk, members, expiresIn);
    }
    if (payload.userCode) set(`userCode:${payload.userCode}`, id, expiresIn);
    if (payload.uid) set(`uid:${payload.uid}`, id, expiresIn);
  }

  async find(id) { return get(this.key(id)); }

  async findByUserCode(code) { const id = get(`userCode:${code}`); return id && this.find(id); }

  async findByUid(uid) { const id = get(`uid:${uid}`); return id && this.find(id); }

  async consume(id) { const p = get(this.key(id)); if (p) p.consumed = Math.floor(Date.now() / 1000); }

  async destroy(id) { store.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    for (const k of get(`grant:${grantId}`) || []) store.delete(k);
    store.delete(`grant:${grantId}`);
  }
}

const { privateKey } = alg === 'ES256'
  ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
  : generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `bench-${alg}` };

const account = (id) => ({
  accountId: id,
  claims: () => ({ sub: id, name: 'Bench User' }),
});

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  clients: [{
    client_id: 'bench',
    client_secret: process.env.BENCH_CLIENT_SECRET || 'bench-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1:1/cb'],
    scope: 'openid profile offline_access',
    id_token_signed_response_alg: alg,
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'profile', 'offline_access'],
  claims: { openid: ['sub'], profile: ['name'] },
  // devInteractions' login form takes any login; only the bench user exists.
  findAccount: async (_ctx, id) => (id === benchUser ? account(id) : undefined),
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
  },
  pkce: { required: () => true },
  rotateRefreshToken: true,
  // Refresh tokens as by default: for offline_access, which oidc-provider
  // honours only with prompt=consent (OIDC Core 11); atrium-load sends it.
  // First-party client: grant the requested scopes, so no consent page.
  loadExistingGrant: async (ctx) => {
    const { Grant } = ctx.oidc.provider;
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    const found = grantId && await Grant.find(grantId); // gone once revoked
    const grant = found || new Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    const scope = ctx.oidc.params.scope || 'openid';
    if (!found || grant.getOIDCScope() !== scope) {
      grant.addOIDCScope(scope);
      await grant.save();
    }
    return grant;
  },
  ttl: {
    AccessToken: 3600,
    ClientCredentials: 3600,
    AuthorizationCode: 300,
    IdToken: 3600,
    RefreshToken: 30 * 24 * 3600,
    Session: 24 * 3600,
    Grant: 30 * 24 * 3600,
    Interaction: 30 * 60,
  },
});

// devInteractions' login form checks no password: check it here, as Atrium
// does, before the form reaches oidc-provider (which then reads ctx.request.body).
provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path.startsWith('/interaction/') && ctx.is('application/x-www-form-urlencoded')) {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    ctx.request.body = Buffer.concat(chunks).toString();
    const form = new URLSearchParams(ctx.request.body);
    if (form.get('prompt') === 'login' && !await verify(passwordHash, form.get('password') || '')) {
      ctx.status = 401;
      ctx.body = 'wrong password';
      return;
    }
  }
  await next();
});

provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
