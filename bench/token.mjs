// Signs the bench user in through the authorization code flow (PKCE) and
// prints the token response, for the wrk scripts that need a user's token.
// Usage: node token.mjs ISSUER CLIENT_ID CLIENT_SECRET USER PASSWORD [SCOPE]
import { createHash, randomBytes } from 'node:crypto';

const [issuer, clientId, secret, user, password, scope = 'openid'] = process.argv.slice(2);
const redirectUri = 'http://127.0.0.1:1/cb';
const cookies = new Map();
const attr = (tag, name) => tag.match(new RegExp(`\\s${name}="([^"]*)"`, 'i'))?.[1];
const unescape = (s) => s?.replace(/&amp;/g, '&').replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'");

async function go(url, init = {}) {
  for (;;) {
    const res = await fetch(url, {
      ...init, redirect: 'manual', headers: { ...init.headers, cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const c of res.headers.getSetCookie()) { const [kv] = c.split(';'); const i = kv.indexOf('='); cookies.set(kv.slice(0, i), kv.slice(i + 1)); }
    const loc = res.headers.get('location');
    if (!loc) return { url, html: await res.text(), status: res.status };
    url = new URL(loc, url).href;
    if (url.startsWith(redirectUri)) return { url };
    init = {};
  }
}

// Fills and submits the page's form: the user's login and password, or the consent choice.
function submit(page) {
  const form = page.html.match(/<form[^>]*>[\s\S]*?<\/form>/i)?.[0];
  if (!form) throw new Error(`no form at ${page.url} (HTTP ${page.status}): ${page.html.slice(0, 300)}`);
  const body = new URLSearchParams();
  for (const [input] of form.matchAll(/<input[^>]*>/gi)) {
    const name = attr(input, 'name'); const type = (attr(input, 'type') || 'text').toLowerCase();
    if (!name) continue;
    if (type === 'password') body.set(name, password);
    else if (type === 'email' || /^(email|login|username|user)$/i.test(name)) body.set(name, user);
    else body.set(name, unescape(attr(input, 'value')) ?? '');
  }
  const buttons = [...form.matchAll(/<button[^>]*>/gi)].map(([b]) => b).filter((b) => attr(b, 'name'));
  const button = buttons.find((b) => /^(allow|accept|continue|yes|confirm|authorize)$/i.test(attr(b, 'value'))) || buttons[0];
  if (button) body.set(attr(button, 'name'), unescape(attr(button, 'value')) ?? '');
  return go(new URL(unescape(attr(form.match(/<form[^>]*>/i)[0], 'action')) || page.url, page.url).href, { method: 'POST', body });
}

const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
const verifier = randomBytes(32).toString('base64url');
const auth = new URL(discovery.authorization_endpoint);
auth.search = new URLSearchParams({
  response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope, state: randomBytes(8).toString('hex'),
  code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
});
let page = await go(auth.href);
for (let i = 0; i < 4 && !page.url.startsWith(redirectUri); i++) page = await submit(page);
const code = new URL(page.url).searchParams.get('code');
if (!code) throw new Error(`no code: ${page.url}`);
const res = await fetch(discovery.token_endpoint, {
  method: 'POST',
  headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` },
  body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
});
const tokens = await res.json();
if (!tokens.access_token) throw new Error(`token endpoint: ${JSON.stringify(tokens)}`);
console.log(JSON.stringify(tokens));
