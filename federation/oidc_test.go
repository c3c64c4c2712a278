package federation

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// signIn runs one flow against op: the auth URL, the user's approval, the
// callback (with extra parameters) and the exchange.
func signIn(t *testing.T, c Connector, op *testOP, f flow, extra url.Values) (url.Values, *Identity, error) {
	t.Helper()
	ctx := context.Background()
	authURL, err := c.AuthCodeURL(ctx, f.request())
	if err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	if q.Get("state") != f.state || q.Get("redirect_uri") != f.redirectURI {
		t.Fatalf("auth URL %q: state or redirect_uri not passed on", authURL)
	}
	params := url.Values{"code": {op.authorize(authURL)}, "state": {f.state}}
	for k, v := range extra {
		params[k] = v
	}
	id, err := c.Exchange(ctx, f.callback(params))
	return q, id, err
}

func mustNew(t *testing.T, cfg Config, client *http.Client) Connector {
	t.Helper()
	c, err := New(context.Background(), cfg, client)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func testAppleKey(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// checkAppleSecret checks the client secret JWT the way Apple does.
func checkAppleSecret(pub *ecdsa.PublicKey, clientID string) func(r *http.Request) error {
	return func(r *http.Request) error {
		if _, _, ok := r.BasicAuth(); ok {
			return errors.New("client credentials in the Authorization header, Apple wants the form")
		}
		if r.PostForm.Get("client_id") != clientID {
			return fmt.Errorf("client_id %q", r.PostForm.Get("client_id"))
		}
		jws, err := jose.ParseSigned(r.PostForm.Get("client_secret"), []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			return fmt.Errorf("client_secret is not an ES256 JWS: %v", err)
		}
		if jws.Signatures[0].Header.KeyID != "KEY123" {
			return fmt.Errorf("kid %q", jws.Signatures[0].Header.KeyID)
		}
		payload, err := jws.Verify(pub)
		if err != nil {
			return fmt.Errorf("client_secret signature: %v", err)
		}
		var c struct {
			Iss, Sub, Aud string
			Iat, Exp      int64
		}
		if err := json.Unmarshal(payload, &c); err != nil {
			return err
		}
		now := time.Now().Unix()
		switch {
		case c.Iss != "TEAM123" || c.Sub != clientID || c.Aud != "https://appleid.apple.com":
			return fmt.Errorf("client_secret claims iss %q sub %q aud %q", c.Iss, c.Sub, c.Aud)
		case c.Iat > now+5 || c.Exp <= now || c.Exp-c.Iat > 180*24*3600:
			return fmt.Errorf("client_secret iat %d exp %d", c.Iat, c.Exp)
		}
		return nil
	}
}

func TestOIDCPresets(t *testing.T) {
	const tid = "9b3e1c4a-0000-4000-8000-00000000abcd"
	tests := []struct {
		name   string
		prefix string
		// setup adjusts the upstream and returns the provider's config.
		setup    func(t *testing.T, op *testOP) Config
		extra    url.Values // callback parameters besides code and state
		mode     string
		authWant map[string]string // auth URL parameters
		want     Identity
	}{
		{
			name: "generic oidc, email_verified as a string, claim mapping",
			setup: func(t *testing.T, op *testOP) Config {
				op.claims = map[string]any{
					"sub": "u-42", "email": "ada@example.com", "email_verified": "true",
					"name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
					"locale": "en-GB", "profile": map[string]any{"avatar": "https://img.example/ada.png"},
				}
				return Config{ID: "corp", Type: "oidc", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret,
					ClaimMapping: map[string]string{"picture": "profile.avatar"}}
			},
			mode:     "query",
			authWant: map[string]string{"code_challenge_method": "S256"},
			want: Identity{Provider: "corp", Subject: "u-42", Email: "ada@example.com", EmailVerified: true,
				Name: "Ada Lovelace", GivenName: "Ada", FamilyName: "Lovelace", Locale: "en-GB", Picture: "https://img.example/ada.png"},
		},
		{
			name: "generic oidc, userinfo fills what the ID token lacks",
			setup: func(t *testing.T, op *testOP) Config {
				op.claims = map[string]any{"sub": "u-7", "name": "From Token"}
				op.userinfo = map[string]any{"sub": "u-7", "name": "From Userinfo", "email": "u7@example.com", "email_verified": true, "nickname": "u7"}
				return Config{ID: "corp", Type: "oidc", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
			},
			mode: "query",
			want: Identity{Provider: "corp", Subject: "u-7", Email: "u7@example.com", EmailVerified: true, Name: "From Token", Nickname: "u7"},
		},
		{
			name: "google with hosted domain",
			setup: func(t *testing.T, op *testOP) Config {
				op.claims = map[string]any{"sub": "1098", "email": "ada@corp.example", "email_verified": true, "hd": "corp.example", "picture": "https://lh3.example/a"}
				return Config{ID: "google", Type: "google", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret, HostedDomain: "corp.example"}
			},
			mode:     "query",
			authWant: map[string]string{"hd": "corp.example"},
			want:     Identity{Provider: "google", Subject: "1098", Email: "ada@corp.example", EmailVerified: true, Picture: "https://lh3.example/a"},
		},
		{
			name:   "microsoft common: {tenantid} issuer template and tid",
			prefix: "/common/v2.0",
			setup: func(t *testing.T, op *testOP) Config {
				op.discoveredIssuer = op.srv.URL + "/{tenantid}/v2.0"
				op.tokenIssuer = op.srv.URL + "/" + tid + "/v2.0"
				op.claims = map[string]any{"sub": "ms-sub", "tid": tid, "oid": "o-1", "email": "ada@contoso.example",
					"xms_edov": true, "preferred_username": "ada@contoso.example", "name": "Ada"}
				return Config{ID: "entra", Type: "microsoft", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
			},
			mode: "query",
			want: Identity{Provider: "entra", Subject: "ms-sub", Email: "ada@contoso.example", EmailVerified: true, Name: "Ada", Nickname: "ada@contoso.example"},
		},
		{
			name:   "microsoft single tenant: strict, email unverified without xms_edov",
			prefix: "/" + tid + "/v2.0",
			setup: func(t *testing.T, op *testOP) Config {
				op.claims = map[string]any{"sub": "ms-sub", "tid": tid, "email": "ada@contoso.example", "name": "Ada"}
				return Config{ID: "entra", Type: "microsoft", Tenant: tid, Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
			},
			mode: "query",
			want: Identity{Provider: "entra", Subject: "ms-sub", Email: "ada@contoso.example", Name: "Ada"},
		},
		{
			name: "gitlab",
			setup: func(t *testing.T, op *testOP) Config {
				op.claims = map[string]any{"sub": "31", "email": "dev@gitlab.example", "email_verified": true, "nickname": "dev", "name": "Dev"}
				return Config{ID: "gitlab", Type: "gitlab", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
			},
			mode: "query",
			want: Identity{Provider: "gitlab", Subject: "31", Email: "dev@gitlab.example", EmailVerified: true, Nickname: "dev", Name: "Dev"},
		},
		{
			name:   "linkedin: discovery issuer differs, no PKCE, credentials in the form",
			prefix: "/oauth",
			setup: func(t *testing.T, op *testOP) Config {
				op.discoveredIssuer = op.srv.URL // the document's issuer lacks /oauth
				op.noPKCE = true
				op.checkClient = func(r *http.Request) error {
					if _, _, ok := r.BasicAuth(); ok || r.PostForm.Get("client_secret") != op.clientSecret {
						return errors.New("LinkedIn wants client_secret in the form")
					}
					return nil
				}
				op.claims = map[string]any{"sub": "li-1", "email": "ada@li.example", "email_verified": true, "name": "Ada L", "given_name": "Ada", "family_name": "L", "locale": "en_US"}
				return Config{ID: "linkedin", Type: "linkedin", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
			},
			mode: "query",
			want: Identity{Provider: "linkedin", Subject: "li-1", Email: "ada@li.example", EmailVerified: true, Name: "Ada L", GivenName: "Ada", FamilyName: "L", Locale: "en_US"},
		},
		{
			name: "apple first login: form_post, user parameter, signed client secret",
			setup: func(t *testing.T, op *testOP) Config {
				key, pemKey := testAppleKey(t)
				op.checkClient = checkAppleSecret(&key.PublicKey, op.clientID)
				op.claims = map[string]any{"sub": "001234.abcd", "email": "x1@privaterelay.appleid.com", "email_verified": "true", "is_private_email": "true"}
				return Config{ID: "apple", Type: "apple", Issuer: op.issuer(), ClientID: op.clientID, TeamID: "TEAM123", KeyID: "KEY123", PrivateKey: pemKey}
			},
			extra:    url.Values{"user": {`{"name":{"firstName":"Ada","lastName":"Lovelace"},"email":"x1@privaterelay.appleid.com"}`}},
			mode:     "form_post",
			authWant: map[string]string{"response_mode": "form_post"},
			want: Identity{Provider: "apple", Subject: "001234.abcd", Email: "x1@privaterelay.appleid.com", EmailVerified: true,
				Name: "Ada Lovelace", GivenName: "Ada", FamilyName: "Lovelace"},
		},
		{
			name: "apple later login: no user parameter, no name",
			setup: func(t *testing.T, op *testOP) Config {
				key, pemKey := testAppleKey(t)
				op.checkClient = checkAppleSecret(&key.PublicKey, op.clientID)
				op.claims = map[string]any{"sub": "001234.abcd", "email": "ada@icloud.example", "email_verified": false}
				return Config{ID: "apple", Type: "apple", Issuer: op.issuer(), ClientID: op.clientID, TeamID: "TEAM123", KeyID: "KEY123", PrivateKey: pemKey}
			},
			mode: "form_post",
			want: Identity{Provider: "apple", Subject: "001234.abcd", Email: "ada@icloud.example"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, tt.prefix)
			c := mustNew(t, tt.setup(t, op), nil)
			if c.ResponseMode() != tt.mode {
				t.Errorf("ResponseMode = %q, want %q", c.ResponseMode(), tt.mode)
			}
			f := newFlow()
			q, id, err := signIn(t, c, op, f, tt.extra)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if q.Get("nonce") != f.nonce {
				t.Errorf("auth URL nonce = %q, want %q", q.Get("nonce"), f.nonce)
			}
			for k, v := range tt.authWant {
				if q.Get(k) != v {
					t.Errorf("auth URL %s = %q, want %q", k, q.Get(k), v)
				}
			}
			got := *id
			if got.Token == nil || got.Token.AccessToken != testAccessToken {
				t.Errorf("Token = %v, want the upstream access token", got.Token)
			}
			var raw map[string]any
			if err := json.Unmarshal(got.Claims, &raw); err != nil || raw["sub"] != tt.want.Subject {
				t.Errorf("Claims = %s (%v), want the raw claims with sub %q", got.Claims, err, tt.want.Subject)
			}
			got.Token, got.Claims = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("identity\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// The Apple client secret is signed once and reused until it nears expiry.
func TestAppleSecretCached(t *testing.T) {
	key, _ := testAppleKey(t)
	s := &appleSecret{key: key, keyID: "K", teamID: "T", clientID: "C"}
	t0 := time.Unix(1_700_000_000, 0)
	a, err := s.get(t0)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := s.get(t0.Add(appleSecretLifetime - 2*appleSecretRenew)); b != a {
		t.Error("secret signed again long before expiry")
	}
	if b, _ := s.get(t0.Add(appleSecretLifetime - appleSecretRenew/2)); b == a {
		t.Error("secret not signed again near expiry")
	}
}

func TestUpstreamDownAtBoot(t *testing.T) {
	op := newTestOP(t, "")
	op.claims = map[string]any{"sub": "u-1"}
	var down atomic.Bool
	down.Store(true)
	var now time.Time = time.Now()
	client := &http.Client{Timeout: 2 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if down.Load() {
			return nil, errors.New("dial tcp: connection refused")
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := mustNew(t, Config{ID: "corp", Type: "oidc", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}, client)
	oc := c.(*oidcConnector)
	oc.now = func() time.Time { return now }
	f := newFlow()

	_, err := c.AuthCodeURL(context.Background(), f.request())
	assertKind(t, err, ErrUnavailable)
	down.Store(false)
	_, err = c.AuthCodeURL(context.Background(), f.request())
	assertKind(t, err, ErrUnavailable) // remembered until the retry time
	if n := op.seen["/.well-known/openid-configuration"]; n != 0 {
		t.Fatalf("discovery fetched %d times while down", n)
	}
	now = now.Add(discoveryRetry + time.Second)
	if _, _, err := signIn(t, c, op, f, nil); err != nil {
		t.Fatalf("after the upstream came up: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func assertKind(t *testing.T, err error, want Kind) {
	t.Helper()
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T), want *Error of kind %s", err, err, want)
	}
	if fe.Kind != want {
		t.Fatalf("kind %s (%v), want %s", fe.Kind, err, want)
	}
	for _, s := range []string{testSecret, testAccessToken} {
		if strings.Contains(err.Error(), s) || strings.Contains(fe.Message(), s) {
			t.Fatalf("error leaks a secret: %v", err)
		}
	}
}
