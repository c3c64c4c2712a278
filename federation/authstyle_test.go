package federation

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// secretInHeader reports whether the token request carried the client
// secret by HTTP Basic (true) or in the form body (false), and fails when
// it carried both or neither.
func secretInHeader(r *http.Request) (bool, error) {
	_, secret, basic := r.BasicAuth()
	form := r.PostForm.Get("client_secret")
	switch {
	case basic && form != "":
		return false, errors.New("client secret both in the header and in the form")
	case basic && secret != "":
		return true, nil
	case form != "":
		return false, nil
	}
	return false, errors.New("no client secret")
}

// TestTokenAuthStyle checks that each connector sends its client secret
// one way, the one its upstream expects.
func TestTokenAuthStyle(t *testing.T) {
	tests := []struct {
		name       string
		prefix     string
		setup      func(t *testing.T, op *testOP) Config
		wantHeader bool
	}{
		{name: "oidc: client_secret_basic by default", wantHeader: true, setup: func(t *testing.T, op *testOP) Config {
			return Config{ID: "corp", Type: "oidc", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
		}},
		{name: "oidc: basic when discovery lists both", wantHeader: true, setup: func(t *testing.T, op *testOP) Config {
			op.authMethods = []string{"client_secret_post", "client_secret_basic"}
			return Config{ID: "corp", Type: "oidc", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
		}},
		{name: "oidc: form when discovery lists only client_secret_post", setup: func(t *testing.T, op *testOP) Config {
			op.authMethods = []string{"client_secret_post", "private_key_jwt"}
			return Config{ID: "corp", Type: "oidc", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
		}},
		{name: "oidc: token_auth_method client_secret_post", setup: func(t *testing.T, op *testOP) Config {
			return Config{ID: "corp", Type: "oidc", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret, TokenAuthMethod: AuthClientSecretPost}
		}},
		{name: "oidc: token_auth_method client_secret_basic wins over discovery", wantHeader: true, setup: func(t *testing.T, op *testOP) Config {
			op.authMethods = []string{"client_secret_post"}
			return Config{ID: "corp", Type: "oidc", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret, TokenAuthMethod: AuthClientSecretBasic}
		}},
		{name: "google: basic", wantHeader: true, setup: func(t *testing.T, op *testOP) Config {
			return Config{ID: "google", Type: "google", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
		}},
		{name: "gitlab: basic", wantHeader: true, setup: func(t *testing.T, op *testOP) Config {
			return Config{ID: "gitlab", Type: "gitlab", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
		}},
		{name: "microsoft: basic", prefix: "/contoso.example/v2.0", wantHeader: true, setup: func(t *testing.T, op *testOP) Config {
			return Config{ID: "entra", Type: "microsoft", Tenant: "contoso.example", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
		}},
		{name: "linkedin: form", prefix: "/oauth", setup: func(t *testing.T, op *testOP) Config {
			op.noPKCE = true
			return Config{ID: "linkedin", Type: "linkedin", Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, tt.prefix)
			cfg := tt.setup(t, op)
			var calls atomic.Int32
			op.checkClient = func(r *http.Request) error {
				calls.Add(1)
				header, err := secretInHeader(r)
				if err != nil {
					return err
				}
				if header != tt.wantHeader {
					t.Errorf("client secret in header = %v, want %v", header, tt.wantHeader)
				}
				return nil
			}
			c := mustNew(t, cfg, nil)
			if _, _, err := signIn(t, c, op, newFlow(), nil); err != nil {
				t.Fatalf("sign-in: %v", err)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("%d token requests, want 1", n)
			}
		})
	}
}

// hangingTokenAPI is an OAuth 2.0 upstream whose token endpoint never
// answers; it counts the token requests and records the auth style of
// the last.
type hangingTokenAPI struct {
	srv    *httptest.Server
	calls  atomic.Int32
	header atomic.Bool
}

func newHangingTokenAPI(t *testing.T, tokenPath string) *hangingTokenAPI {
	a := &hangingTokenAPI{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != tokenPath {
			http.NotFound(w, r)
			return
		}
		r.ParseForm()
		a.calls.Add(1)
		_, _, basic := r.BasicAuth()
		a.header.Store(basic)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// TestTokenTimeoutCostsOneRequest checks that a token endpoint that times
// out is called once: x/oauth2's auth style detection would try again with
// the credentials moved, and the person would wait twice the timeout.
func TestTokenTimeoutCostsOneRequest(t *testing.T) {
	const timeout = 300 * time.Millisecond
	t.Run("oidc", func(t *testing.T) {
		t.Parallel()
		for _, typ := range []string{TypeOIDC, TypeGoogle, TypeGitLab} {
			op := newTestOP(t, "")
			op.tokenHang = true
			c := mustNew(t, Config{ID: "up", Type: typ, Issuer: op.issuer(), ClientID: op.clientID, ClientSecret: op.clientSecret},
				&http.Client{Timeout: timeout})
			_, _, err := signIn(t, c, op, newFlow(), nil)
			if err == nil {
				t.Fatalf("%s: sign-in succeeded against a hanging token endpoint", typ)
			}
			assertKind(t, err, ErrUnavailable)
			op.mu.Lock()
			n := op.seen["/token"]
			op.mu.Unlock()
			if n != 1 {
				t.Errorf("%s: %d token requests, want 1", typ, n)
			}
		}
	})
	tests := []struct {
		name       string
		tokenPath  string
		cfg        func(a *hangingTokenAPI) Config
		wantHeader bool
	}{
		{name: "oauth2 default", tokenPath: "/token", wantHeader: true, cfg: func(a *hangingTokenAPI) Config {
			return Config{ID: "up", Type: TypeOAuth2, ClientID: "atrium-client", ClientSecret: testSecret,
				AuthURL: a.srv.URL + "/authorize", TokenURL: a.srv.URL + "/token", UserinfoURL: a.srv.URL + "/me"}
		}},
		{name: "oauth2 client_secret_post", tokenPath: "/token", cfg: func(a *hangingTokenAPI) Config {
			return Config{ID: "up", Type: TypeOAuth2, ClientID: "atrium-client", ClientSecret: testSecret, TokenAuthMethod: AuthClientSecretPost,
				AuthURL: a.srv.URL + "/authorize", TokenURL: a.srv.URL + "/token", UserinfoURL: a.srv.URL + "/me"}
		}},
		{name: "github", tokenPath: "/login/oauth/access_token", cfg: func(a *hangingTokenAPI) Config {
			return Config{ID: "github", Type: TypeGitHub, ClientID: "atrium-client", ClientSecret: testSecret,
				AuthURL: a.srv.URL + "/login/oauth/authorize", TokenURL: a.srv.URL + "/login/oauth/access_token", APIBaseURL: a.srv.URL}
		}},
		{name: "facebook", tokenPath: "/oauth/access_token", cfg: func(a *hangingTokenAPI) Config {
			return Config{ID: "facebook", Type: TypeFacebook, ClientID: "atrium-client", ClientSecret: testSecret, APIBaseURL: a.srv.URL}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newHangingTokenAPI(t, tt.tokenPath)
			c := mustNew(t, tt.cfg(a), &http.Client{Timeout: timeout})
			f := newFlow()
			ctx := context.Background()
			if _, err := c.AuthCodeURL(ctx, f.request()); err != nil {
				t.Fatal(err)
			}
			_, err := c.Exchange(ctx, f.callback(url.Values{"code": {"good-code"}, "state": {f.state}}))
			if err == nil {
				t.Fatal("Exchange succeeded against a hanging token endpoint")
			}
			assertKind(t, err, ErrUnavailable)
			if n := a.calls.Load(); n != 1 {
				t.Errorf("%d token requests, want 1", n)
			}
			if got := a.header.Load(); got != tt.wantHeader {
				t.Errorf("client secret in header = %v, want %v", got, tt.wantHeader)
			}
		})
	}
}
