package federation

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestOIDCBadInput(t *testing.T) {
	const tid = "9b3e1c4a-0000-4000-8000-00000000abcd"
	generic := func(op *testOP) Config {
		return Config{ID: "corp", Type: "oidc", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
	}
	tests := []struct {
		name   string
		prefix string
		setup  func(op *testOP) Config
		client *http.Client
		// callback edits the callback parameters or the flow before Exchange.
		callback func(p url.Values, f *flow)
		want     Kind
	}{
		{name: "user denies", setup: generic, want: ErrDenied,
			callback: func(p url.Values, _ *flow) { p.Del("code"); p.Set("error", "access_denied") }},
		{name: "upstream server_error on the callback", setup: generic, want: ErrUnavailable,
			callback: func(p url.Values, _ *flow) { p.Del("code"); p.Set("error", "temporarily_unavailable") }},
		{name: "missing code", setup: generic, want: ErrInvalidResponse,
			callback: func(p url.Values, _ *flow) { p.Del("code") }},
		{name: "nonce mismatch", setup: generic, want: ErrInvalidResponse,
			callback: func(_ url.Values, f *flow) { f.nonce = "another-nonce" }},
		{name: "wrong PKCE verifier", setup: generic, want: ErrInvalidResponse,
			callback: func(_ url.Values, f *flow) { f.verifier = randomString() + randomString() }},
		{name: "forged id_token", want: ErrInvalidResponse, setup: func(op *testOP) Config {
			op.signWith, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			return generic(op)
		}},
		{name: "expired id_token", want: ErrInvalidResponse, setup: func(op *testOP) Config {
			op.mutate = func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }
			return generic(op)
		}},
		{name: "wrong audience", want: ErrInvalidResponse, setup: func(op *testOP) Config {
			op.mutate = func(c map[string]any) { c["aud"] = "someone-else" }
			return generic(op)
		}},
		{name: "wrong issuer", want: ErrInvalidResponse, setup: func(op *testOP) Config {
			op.tokenIssuer = "https://evil.example"
			return generic(op)
		}},
		{name: "no id_token", want: ErrInvalidResponse, setup: func(op *testOP) Config {
			op.tokenStatus, op.tokenBody = 200, `{"access_token":"`+testAccessToken+`","token_type":"Bearer"}`
			return generic(op)
		}},
		{name: "token endpoint times out", want: ErrUnavailable, client: &http.Client{Timeout: 300 * time.Millisecond},
			setup: func(op *testOP) Config { op.tokenHang = true; return generic(op) }},
		{name: "token endpoint answers HTML", want: ErrInvalidResponse, setup: func(op *testOP) Config {
			op.tokenStatus, op.tokenBody = 200, "<html><body>Welcome!</body></html>"
			return generic(op)
		}},
		{name: "token endpoint 500", want: ErrUnavailable, setup: func(op *testOP) Config {
			op.tokenStatus, op.tokenBody = 500, "oops"
			return generic(op)
		}},
		{name: "wrong client secret", want: ErrConfig, setup: func(op *testOP) Config {
			cfg := generic(op)
			op.clientSecret = "what-the-upstream-expects"
			return cfg
		}},
		{name: "userinfo about another subject", want: ErrInvalidResponse, setup: func(op *testOP) Config {
			op.userinfo = map[string]any{"sub": "someone-else", "email": "x@example.com"}
			return generic(op)
		}},
		{name: "userinfo answers HTML", want: ErrInvalidResponse, setup: func(op *testOP) Config {
			op.userinfoRaw, op.userinfoStatus = "<html>login</html>", 200
			return generic(op)
		}},
		{name: "userinfo 502", want: ErrUnavailable, setup: func(op *testOP) Config {
			op.userinfoRaw, op.userinfoStatus = "<html>bad gateway</html>", 502
			return generic(op)
		}},
		{name: "missing email when required", want: ErrMissingEmail, setup: func(op *testOP) Config {
			cfg := generic(op)
			cfg.RequireVerifiedEmail = true
			return cfg
		}},
		{name: "unverified email when required", want: ErrMissingEmail, setup: func(op *testOP) Config {
			op.claims["email"], op.claims["email_verified"] = "a@example.com", "false"
			cfg := generic(op)
			cfg.RequireVerifiedEmail = true
			return cfg
		}},
		{name: "google hd mismatch", want: ErrDenied, setup: func(op *testOP) Config {
			op.claims["hd"] = "other.example"
			return Config{ID: "google", Type: "google", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret, HostedDomain: "corp.example"}
		}},
		{name: "google hd missing (consumer account)", want: ErrDenied, setup: func(op *testOP) Config {
			return Config{ID: "google", Type: "google", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret, HostedDomain: "corp.example"}
		}},
		{name: "microsoft iss does not match tid", prefix: "/common/v2.0", want: ErrInvalidResponse, setup: func(op *testOP) Config {
			op.discoveredIssuer = op.srv.URL + "/{tenantid}/v2.0"
			op.tokenIssuer = op.srv.URL + "/00000000-0000-0000-0000-000000000bad/v2.0"
			op.claims["tid"] = tid
			return Config{ID: "entra", Type: "microsoft", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
		}},
		{name: "microsoft without tid", prefix: "/common/v2.0", want: ErrInvalidResponse, setup: func(op *testOP) Config {
			op.discoveredIssuer = op.srv.URL + "/{tenantid}/v2.0"
			op.tokenIssuer = op.srv.URL + "/{tenantid}/v2.0"
			return Config{ID: "entra", Type: "microsoft", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
		}},
		{name: "microsoft single tenant, token from another tenant", prefix: "/" + tid + "/v2.0", want: ErrInvalidResponse, setup: func(op *testOP) Config {
			op.tokenIssuer = op.srv.URL + "/00000000-0000-0000-0000-000000000bad/v2.0"
			return Config{ID: "entra", Type: "microsoft", Tenant: tid, Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
		}},
		{name: "discovery declares another issuer", want: ErrConfig, setup: func(op *testOP) Config {
			op.discoveredIssuer = "https://elsewhere.example"
			return generic(op)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, tt.prefix)
			c := mustNew(t, tt.setup(op), tt.client)
			ctx := context.Background()
			f := newFlow()
			authURL, err := c.AuthCodeURL(ctx, f.request())
			if err != nil {
				assertKind(t, err, tt.want)
				return
			}
			params := url.Values{"code": {op.authorize(authURL)}, "state": {f.state}}
			if tt.callback != nil {
				tt.callback(params, &f)
			}
			id, err := c.Exchange(ctx, f.callback(params))
			if err == nil {
				t.Fatalf("Exchange = %+v, want a %s error", id, tt.want)
			}
			assertKind(t, err, tt.want)
			t.Logf("%v", err)
		})
	}
}
