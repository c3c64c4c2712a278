// A second, independent relying party for Atrium's conformance tests:
// openid-client (OpenID Certified) runs against a running Atrium and every
// check it makes is the library's own. The Go test (openid_client_test.go)
// starts it and stands in for the browser.
//
// Protocol: one JSON object a line on stdout.
//   {"step": name, "ok": true, ...}        a step passed
//   {"step": name, "ok": false, "error"}   a step failed (the library raised)
//   {"step": name, "skipped": reason}      a feature discovery does not advertise
//   {"step": "authorize", "flow", "url"}   asks the browser to open url, sign
//                                          in and consent; the answer is one
//                                          line on stdin: {"callback": url}
//                                          (the redirect back to the client),
//                                          with "form" (its url-encoded body)
//                                          for response_mode=form_post, or
//                                          {"error": "..."}
//   {"step": "navigate", "url"}            asks the browser to open url; the
//                                          answer: {"redirect": url} or
//                                          {"status": n, "text": "..."}
//   {"step": "device-verify", "url"}       asks the browser to open a device
//                                          request's verification_uri_complete,
//                                          sign in and allow; the answer:
//                                          {"ok": true} or {"error": "..."}
//   {"step": "done", "failed": n}          last line; exit status 1 when a
//                                          step failed
//
// Env: RP_CONFIG, a JSON object: issuer, sub (the user's id), clients
// (basic, post, public, pkjwt: {id, secret, redirect_uri, jwk,
// post_logout_redirect_uri}; device: {id}, a public client of the device
// grant), initialAccessToken (for registration).
//
// Features a server may leave out (registration, PAR, DPoP, device, logout) run
// only when discovery advertises them, and are otherwise reported skipped
// with the metadata they wait for.
import * as readline from 'node:readline';
import * as client from 'openid-client';

const cfg = JSON.parse(process.env.RP_CONFIG ?? '{}');
for (const k of ['issuer', 'sub', 'clients']) {
  if (!cfg[k]) throw new Error(`RP_CONFIG.${k} is required`);
}
const { issuer, sub } = cfg;

const emit = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`);

const answers = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

// ask sends a request to the browser and waits for its answer.
async function ask(msg) {
  emit(msg);
  const { value, done } = await answers.next();
  if (done) throw new Error(`stdin closed before the answer to ${msg.step}`);
  return JSON.parse(value);
}

// describe is an error as the library raised it: class, code, message and
// the OAuth error of a response.
function describe(e) {
  let s = `${e?.constructor?.name ?? 'Error'}${e?.code ? ` ${e.code}` : ''}: ${e?.message ?? e}`;
  if (e?.error) s += ` (error=${e.error}${e.error_description ? ` "${e.error_description}"` : ''})`;
  if (e?.status) s += ` [HTTP ${e.status}]`;
  if (e?.cause instanceof Error) s += `; cause: ${describe(e.cause)}`;
  if (Array.isArray(e?.cause)) s += `; challenges: ${JSON.stringify(e.cause)}`;
  return s;
}

let failed = 0;

// step runs one step and reports it; fn returns what to add to the report.
async function step(name, fn) {
  try {
    emit({ step: name, ok: true, ...(await fn()) });
    return true;
  } catch (e) {
    failed++;
    emit({ step: name, ok: false, error: describe(e) });
    return false;
  }
}

const skip = (name, reason) => emit({ step: name, skipped: reason });

// expectRaise runs fn, which must make the library raise; it returns the
// error's description.
async function expectRaise(what, fn) {
  try {
    await fn();
  } catch (e) {
    return describe(e);
  }
  throw new Error(`${what}: the library accepted it`);
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// The server's metadata, from the discovery step.
let meta;

// configFor is a client's configuration over the discovered metadata,
// allowed plain http (the test server listens on localhost only) and
// verifying ID token signatures against the JWKS.
function configFor(c, auth) {
  const config = new client.Configuration(meta, c.id, c.secret ? { client_secret: c.secret } : {}, auth);
  client.allowInsecureRequests(config);
  client.enableNonRepudiationChecks(config);
  return config;
}

// basic is the client_secret_basic client and its configuration.
function basic() {
  const c = cfg.clients.basic;
  return { c, config: configFor(c, client.ClientSecretBasic(c.secret)) };
}

// revokeRefresh revokes a refresh token; refreshing with it must then
// fail.
async function revokeRefresh(config, refreshToken, params) {
  await client.tokenRevocation(config, refreshToken, params);
  const refused = await expectRaise('refresh with a revoked refresh token', () =>
    client.refreshTokenGrant(config, refreshToken));
  return { refused };
}

// codeFlow runs the authorization code flow with PKCE (S256), state and
// nonce, the browser answering the pages, and returns the token response
// and the ID token's claims, all checked by the library. With maxAge the
// library also requires an auth_time within it.
async function codeFlow(config, c, flow, {
  scope = 'openid profile email offline_access', par = false, dpop, responseMode, maxAge, jar,
} = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = {
    redirect_uri: c.redirect_uri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  };
  if (responseMode) params.response_mode = responseMode;
  if (maxAge !== undefined) params.max_age = String(maxAge);
  let url;
  if (jar) {
    // The parameters signed into a request object (RFC 9101), sent by
    // value, or pushed with PAR.
    url = await client.buildAuthorizationUrlWithJAR(config, params, jar);
    if (par) url = await client.buildAuthorizationUrlWithPAR(config, url.searchParams, { DPoP: dpop });
  } else {
    url = par
      ? await client.buildAuthorizationUrlWithPAR(config, params, { DPoP: dpop })
      : client.buildAuthorizationUrl(config, params);
  }
  const answer = await ask({ step: 'authorize', flow, url: url.href });
  check(answer.callback, `the browser did not come back to the client: ${answer.error}`);
  const back = answer.form === undefined
    ? new URL(answer.callback)
    : new Request(answer.callback, {
      method: 'POST',
      body: answer.form,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  const tokens = await client.authorizationCodeGrant(
    config,
    back,
    { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true, maxAge },
    undefined,
    { DPoP: dpop },
  );
  const claims = tokens.claims();
  check(claims?.sub === sub, `id_token sub = ${claims?.sub}, want ${sub}`);
  return { tokens, claims };
}

// --- steps ---

async function discovery() {
  const opts = { execute: [client.allowInsecureRequests] };
  await step('discovery', async () => {
    const config = await client.discovery(new URL(issuer), cfg.clients.basic.id, undefined, undefined, opts);
    meta = config.serverMetadata();
    check(meta.issuer === issuer, `issuer ${meta.issuer}, want ${issuer}`);
    return {
      features: {
        registration: !!meta.registration_endpoint,
        par: !!meta.pushed_authorization_request_endpoint,
        dpop: !!meta.dpop_signing_alg_values_supported,
        logout: !!meta.end_session_endpoint,
        device: !!meta.device_authorization_endpoint,
      },
    };
  });
  await step('discovery-oauth', async () => {
    const config = await client.discovery(new URL(issuer), cfg.clients.basic.id, undefined, undefined, {
      ...opts,
      algorithm: 'oauth2',
    });
    check(config.serverMetadata().issuer === issuer, `RFC 8414 issuer ${config.serverMetadata().issuer}`);
  });
}

// confidential runs everything a confidential client does with its tokens:
// the code flow, userinfo, refresh, introspection and revocation.
async function confidential() {
  const { c, config } = basic();
  let tokens;
  if (!(await step('code-basic', async () => {
    ({ tokens } = await codeFlow(config, c, 'code-basic'));
    check(tokens.refresh_token, 'no refresh_token for offline_access');
    return { token_type: tokens.token_type, scope: tokens.scope };
  }))) {
    return;
  }
  await step('userinfo', async () => {
    const info = await client.fetchUserInfo(config, tokens.access_token, sub);
    check(info.email, 'userinfo has no email for the email scope');
  });
  await step('refresh', async () => {
    const fresh = await client.refreshTokenGrant(config, tokens.refresh_token);
    check(fresh.access_token && fresh.access_token !== tokens.access_token, 'refresh returned no new access token');
    await client.fetchUserInfo(config, fresh.access_token, sub);
    tokens = { ...tokens, ...fresh };
  });
  await step('introspection', async () => {
    const info = await client.tokenIntrospection(config, tokens.access_token);
    check(info.active === true, `active = ${info.active}`);
    check(info.client_id === c.id, `client_id = ${info.client_id}`);
    check(info.sub === sub, `sub = ${info.sub}`);
    const rt = await client.tokenIntrospection(config, tokens.refresh_token);
    check(rt.active === true, `refresh token active = ${rt.active}`);
  });
  // Token exchange (RFC 8693): the client trades its access token for a
  // narrower one (scope openid only), which introspects as the user's.
  const grantTokenExchange = 'urn:ietf:params:oauth:grant-type:token-exchange';
  if (!(meta.grant_types_supported ?? []).includes(grantTokenExchange)) {
    skip('token-exchange', 'grant_types_supported has no token exchange');
  } else {
    await step('token-exchange', async () => {
      const exchanged = await client.genericGrantRequest(config, grantTokenExchange, {
        subject_token: tokens.access_token,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        scope: 'openid',
      });
      check(exchanged.issued_token_type === 'urn:ietf:params:oauth:token-type:access_token', `issued_token_type ${exchanged.issued_token_type}`);
      check(!exchanged.refresh_token && !exchanged.id_token, 'a refresh or ID token came with the exchanged token');
      const info = await client.tokenIntrospection(config, exchanged.access_token);
      check(info.active === true && info.sub === sub && info.client_id === c.id && info.scope === 'openid',
        `introspection of the exchanged token: ${JSON.stringify(info)}`);
      await client.fetchUserInfo(config, exchanged.access_token, sub);
      return { scope: exchanged.scope };
    });
  }
  await step('revocation', async () => {
    await client.tokenRevocation(config, tokens.access_token);
    const at = await client.tokenIntrospection(config, tokens.access_token);
    check(at.active === false, `access token active = ${at.active} after revocation`);
    const rejected = await expectRaise('userinfo with a revoked access token', () =>
      client.fetchUserInfo(config, tokens.access_token, sub));
    const { refused } = await revokeRefresh(config, tokens.refresh_token, { token_type_hint: 'refresh_token' });
    const rt = await client.tokenIntrospection(config, tokens.refresh_token);
    check(rt.active === false, `refresh token active = ${rt.active} after revocation`);
    return { rejected, refused };
  });
}

// otherAuth signs in with a client of another auth method and uses its
// tokens: userinfo, refresh, introspection (a step of its own) and
// revocation, each request authenticated the client's way.
async function otherAuth(c, auth, name) {
  const config = configFor(c, auth);
  let tokens;
  if (!(await step(`code-${name}`, async () => {
    ({ tokens } = await codeFlow(config, c, `code-${name}`, { maxAge: 3600 }));
    await client.fetchUserInfo(config, tokens.access_token, sub);
    tokens = { ...tokens, ...(await client.refreshTokenGrant(config, tokens.refresh_token)) };
  }))) {
    return;
  }
  await step(`introspection-${name}`, async () => {
    const info = await client.tokenIntrospection(config, tokens.access_token);
    check(info.active === true, `active = ${info.active}`);
    check(info.client_id === c.id, `client_id = ${info.client_id}`);
  });
  await step(`revocation-${name}`, () => revokeRefresh(config, tokens.refresh_token));
}

// formPost receives the authorization response by response_mode=form_post.
async function formPost() {
  const { c, config } = basic();
  await step('code-form-post', async () => {
    const { tokens } = await codeFlow(config, c, 'code-form-post', { scope: 'openid email', responseMode: 'form_post' });
    await client.fetchUserInfo(config, tokens.access_token, sub);
  });
}

// post is a client_secret_post client.
function post() {
  const c = cfg.clients.post;
  return otherAuth(c, client.ClientSecretPost(c.secret), 'post');
}

// pkjwtKey is the private_key_jwt client's RSA key, given as a private JWK.
async function pkjwtKey() {
  const c = cfg.clients.pkjwt;
  const key = await crypto.subtle.importKey('jwk', c.jwk, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  return { c, key: { key, kid: c.jwk.kid } };
}

// pkjwt is a private_key_jwt client.
async function pkjwt() {
  const { c, key } = await pkjwtKey();
  return otherAuth(c, client.PrivateKeyJwt(key), 'private-key-jwt');
}

// jar signs the authorization request into a request object (RFC 9101)
// with the private_key_jwt client's key: by value at the authorization
// endpoint, then pushed with PAR.
async function jar() {
  if (meta.request_parameter_supported !== true) {
    return skip('jar', 'discovery does not say request_parameter_supported');
  }
  const { c, key } = await pkjwtKey();
  const config = configFor(c, client.PrivateKeyJwt(key));
  await step('jar', async () => {
    const { tokens } = await codeFlow(config, c, 'jar', { scope: 'openid email', jar: key });
    await client.fetchUserInfo(config, tokens.access_token, sub);
    if (meta.pushed_authorization_request_endpoint) {
      await codeFlow(config, c, 'jar-par', { scope: 'openid email', jar: key, par: true });
    }
    return { pushed: Boolean(meta.pushed_authorization_request_endpoint) };
  });
}

// pub signs in with a public client: PKCE instead of a secret.
async function pub() {
  const c = cfg.clients.public;
  const config = configFor(c, client.None());
  let tokens;
  if (!(await step('code-public', async () => {
    ({ tokens } = await codeFlow(config, c, 'code-public'));
    check(tokens.refresh_token, 'no refresh_token for offline_access');
  }))) {
    return;
  }
  await step('userinfo-public', () => client.fetchUserInfo(config, tokens.access_token, sub).then(() => ({})));
  await step('refresh-public', async () => {
    const fresh = await client.refreshTokenGrant(config, tokens.refresh_token);
    await client.fetchUserInfo(config, fresh.access_token, sub);
    tokens = { ...tokens, ...fresh };
  });
  await step('revocation-public', () => revokeRefresh(config, tokens.refresh_token));
}

// stateMismatch is the harness's own negative case: the browser changes
// the state of the authorization response, and the library must refuse it
// before it redeems the code.
async function stateMismatch() {
  const { c, config } = basic();
  await step('state-mismatch', async () => {
    const rejected = await expectRaise('an authorization response with a changed state', () =>
      codeFlow(config, c, 'state-mismatch', { scope: 'openid' }));
    check(/state/i.test(rejected), `raised, but not about the state: ${rejected}`);
    return { rejected };
  });
}

// registration registers a client over HTTP (RFC 7591), signs in with it,
// and refreshes its tokens.
async function registration() {
  if (!meta.registration_endpoint) return skip('registration', 'discovery has no registration_endpoint');
  const redirect = 'https://openid-client-registered.rp.test/callback';
  await step('registration', async () => {
    const config = await client.dynamicClientRegistration(
      new URL(issuer),
      {
        client_name: 'openid-client registered',
        redirect_uris: [redirect],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      client.ClientSecretBasic(), // with the client_secret the server returns
      { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks], initialAccessToken: cfg.initialAccessToken },
    );
    const registered = { id: config.clientMetadata().client_id, redirect_uri: redirect };
    const { tokens } = await codeFlow(config, registered, 'registration');
    await client.fetchUserInfo(config, tokens.access_token, sub);
    const fresh = await client.refreshTokenGrant(config, tokens.refresh_token);
    await client.fetchUserInfo(config, fresh.access_token, sub);
    return { client_id: registered.id };
  });
}

// par sends the authorization request by PAR (RFC 9126).
async function par() {
  if (!meta.pushed_authorization_request_endpoint) {
    return skip('par', 'discovery has no pushed_authorization_request_endpoint');
  }
  const { c, config } = basic();
  await step('par', async () => {
    const { tokens } = await codeFlow(config, c, 'par', { scope: 'openid email', par: true });
    await client.fetchUserInfo(config, tokens.access_token, sub);
  });
}

// dpop binds the tokens to a key (RFC 9449) and uses them with proofs; a
// bound token is refused as a bearer token and with another key's proof.
// With PAR, the proof is sent to /par too.
async function dpop() {
  const algs = meta.dpop_signing_alg_values_supported;
  if (!algs?.length) return skip('dpop', 'discovery has no dpop_signing_alg_values_supported');
  const { c, config } = basic();
  await step('dpop', async () => {
    const alg = algs.includes('ES256') ? 'ES256' : algs[0];
    const handle = client.getDPoPHandle(config, await client.randomDPoPKeyPair(alg));
    const { tokens } = await codeFlow(config, c, 'dpop', { dpop: handle });
    check(tokens.token_type?.toLowerCase() === 'dpop', `token_type = ${tokens.token_type}, want DPoP`);
    await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP: handle });
    const fresh = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: handle });
    await client.fetchUserInfo(config, fresh.access_token, sub, { DPoP: handle });
    const bearer = await expectRaise('a DPoP-bound access token used as a bearer token', () =>
      client.fetchUserInfo(config, fresh.access_token, sub));
    const other = client.getDPoPHandle(config, await client.randomDPoPKeyPair(alg));
    const otherKey = await expectRaise('a DPoP-bound access token with another key\'s proof', () =>
      client.fetchUserInfo(config, fresh.access_token, sub, { DPoP: other }));
    if (meta.pushed_authorization_request_endpoint) {
      // The proof at /par binds the code to the key (dpop_jkt).
      const { tokens: pushed } = await codeFlow(config, c, 'dpop-par', { dpop: handle, par: true, scope: 'openid' });
      check(pushed.token_type?.toLowerCase() === 'dpop', `with PAR: token_type = ${pushed.token_type}, want DPoP`);
      await client.fetchUserInfo(config, pushed.access_token, sub, { DPoP: handle });
    }
    return { alg, withPAR: !!meta.pushed_authorization_request_endpoint, bearer, otherKey };
  });
}

// device runs the device authorization grant (RFC 8628) with a public
// client: the library starts it and polls the token endpoint while the
// browser enters the code, signs in and allows; the tokens then serve
// userinfo and a refresh.
async function device() {
  if (!meta.device_authorization_endpoint) {
    return skip('device', 'discovery has no device_authorization_endpoint');
  }
  const c = cfg.clients.device;
  const config = configFor(c, client.None());
  await step('device', async () => {
    const started = await client.initiateDeviceAuthorization(config, { scope: 'openid email offline_access' });
    check(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/.test(started.user_code), `user_code ${started.user_code}`);
    const answer = await ask({ step: 'device-verify', url: started.verification_uri_complete });
    check(answer.ok, `the browser could not allow the device: ${answer.error}`);
    const tokens = await client.pollDeviceAuthorizationGrant(config, started);
    check(tokens.claims()?.sub === sub, `ID token sub ${tokens.claims()?.sub}, want ${sub}`);
    check(tokens.refresh_token, 'no refresh_token for offline_access');
    await client.fetchUserInfo(config, tokens.access_token, sub);
    const fresh = await client.refreshTokenGrant(config, tokens.refresh_token);
    await client.fetchUserInfo(config, fresh.access_token, sub);
    return { interval: started.interval };
  });
}

// logout ends the session (RP-initiated logout) with the client's
// post_logout_redirect_uri and a state, which must come back, and checks
// it ended: an authorization with prompt=none then answers
// login_required. It runs last, as every sign-in before it shares the
// browser's session.
async function logout() {
  if (!meta.end_session_endpoint) return skip('logout', 'discovery has no end_session_endpoint');
  const { c, config } = basic();
  await step('logout', async () => {
    const { tokens } = await codeFlow(config, c, 'logout', { scope: 'openid' });
    const params = { id_token_hint: tokens.id_token, state: client.randomState() };
    if (c.post_logout_redirect_uri) params.post_logout_redirect_uri = c.post_logout_redirect_uri;
    const answer = await ask({ step: 'navigate', url: client.buildEndSessionUrl(config, params).href });
    if (c.post_logout_redirect_uri) {
      const back = answer.redirect && new URL(answer.redirect);
      check(back && `${back.origin}${back.pathname}` === c.post_logout_redirect_uri,
        `logout ended at ${answer.redirect ?? `a ${answer.status} page: ${answer.text}`}, want ${c.post_logout_redirect_uri}`);
      check(back.searchParams.get('state') === params.state, `logout came back with state ${back.searchParams.get('state')}, want ${params.state}`);
    } else {
      check(answer.redirect || answer.status < 400, `logout answered ${answer.status}: ${answer.text}`);
    }
    const state = client.randomState();
    const silent = client.buildAuthorizationUrl(config, {
      redirect_uri: c.redirect_uri, scope: 'openid', state, prompt: 'none',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const back = await ask({ step: 'authorize', flow: 'logout-check', url: silent.href });
    check(back.callback, `prompt=none after logout did not come back: ${back.error}`);
    const ended = await expectRaise('prompt=none after logout', () =>
      client.authorizationCodeGrant(config, new URL(back.callback), { expectedState: state }));
    check(/login_required/.test(ended), `prompt=none after logout: ${ended}, want login_required`);
    return { ended };
  });
}

await discovery();
if (meta) {
  await confidential();
  await formPost();
  await post();
  await pkjwt();
  await pub();
  await stateMismatch();
  await registration();
  await par();
  await jar();
  await dpop();
  await device();
  await logout();
}
emit({ step: 'done', failed });
process.exit(failed ? 1 : 0);
