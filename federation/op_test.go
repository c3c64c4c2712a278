package federation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// testOP is a small OpenID Connect provider: discovery, JWKS, an
// authorization step the test drives by hand, a token endpoint that checks
// the code, the client and the PKCE verifier (S256), and userinfo.
type testOP struct {
	t      *testing.T
	srv    *httptest.Server
	prefix string // issuer path, e.g. "/oauth"
	key    *ecdsa.PrivateKey

	clientID, clientSecret string

	// Knobs, set before the flow runs.
	discoveredIssuer string               // default: the issuer URL
	tokenIssuer      string               // default: the issuer URL
	claims           map[string]any       // ID token claims besides iss, aud, exp, iat, nonce
	mutate           func(map[string]any) // edits the final ID token claims
	signWith         *ecdsa.PrivateKey    // default: key (forged tokens use another)
	userinfo         map[string]any       // nil: no userinfo endpoint
	userinfoRaw      string               // served as text/html when set, with userinfoStatus
	userinfoStatus   int
	tokenStatus      int // non-zero: answer the token request with this status and tokenBody
	tokenBody        string
	tokenHang        bool // never answer the token request
	checkClient      func(r *http.Request) error
	noPKCE           bool     // fail if a PKCE parameter is sent
	authMethods      []string // discovery's token_endpoint_auth_methods_supported

	mu     sync.Mutex
	grants map[string]grant
	// seen records requests by path.
	seen map[string]int
}

type grant struct {
	challenge, nonce, redirectURI string
}

const (
	testAccessToken = "at-SECRET-0123456789"
	testSecret      = "client-SECRET-abcdef"
)

func newTestOP(t *testing.T, prefix string) *testOP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	op := &testOP{
		t: t, prefix: prefix, key: key,
		clientID: "atrium-client", clientSecret: testSecret,
		claims: map[string]any{"sub": "user-1"},
		grants: map[string]grant{}, seen: map[string]int{},
	}
	op.srv = httptest.NewServer(http.HandlerFunc(op.serve))
	t.Cleanup(op.srv.Close)
	return op
}

func (op *testOP) issuer() string { return op.srv.URL + op.prefix }

func (op *testOP) serve(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	op.seen[r.URL.Path]++
	op.mu.Unlock()
	switch r.URL.Path {
	case op.prefix + "/.well-known/openid-configuration":
		iss := op.discoveredIssuer
		if iss == "" {
			iss = op.issuer()
		}
		doc := map[string]any{
			"issuer":                                iss,
			"authorization_endpoint":                op.srv.URL + "/authorize",
			"token_endpoint":                        op.srv.URL + "/token",
			"jwks_uri":                              op.srv.URL + "/jwks",
			"id_token_signing_alg_values_supported": []string{"ES256"},
		}
		if op.authMethods != nil {
			doc["token_endpoint_auth_methods_supported"] = op.authMethods
		}
		if op.userinfo != nil || op.userinfoRaw != "" {
			doc["userinfo_endpoint"] = op.srv.URL + "/userinfo"
		}
		writeJSON(w, doc)
	case "/jwks":
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &op.key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	case "/token":
		op.token(w, r)
	case "/userinfo":
		if r.Header.Get("Authorization") != "Bearer "+testAccessToken {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		if op.userinfoRaw != "" {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(op.userinfoStatus)
			fmt.Fprint(w, op.userinfoRaw)
			return
		}
		writeJSON(w, op.userinfo)
	default:
		http.NotFound(w, r)
	}
}

// authorize plays the user approving at the upstream: it checks the
// authorization URL and returns a code bound to its PKCE challenge and nonce.
func (op *testOP) authorize(authURL string) string {
	op.t.Helper()
	u, err := url.Parse(authURL)
	if err != nil || !strings.HasPrefix(authURL, op.srv.URL+"/authorize?") {
		op.t.Fatalf("auth URL %q is not at %s/authorize", authURL, op.srv.URL)
	}
	q := u.Query()
	if q.Get("client_id") != op.clientID || q.Get("response_type") != "code" || q.Get("state") == "" {
		op.t.Fatalf("auth URL %q: bad client_id, response_type or state", authURL)
	}
	if !strings.Contains(" "+q.Get("scope")+" ", " openid ") {
		op.t.Fatalf("auth URL %q: scope without openid", authURL)
	}
	if op.noPKCE && q.Has("code_challenge") {
		op.t.Fatalf("auth URL %q: PKCE sent", authURL)
	}
	if !op.noPKCE && q.Get("code_challenge_method") != "S256" {
		op.t.Fatalf("auth URL %q: no S256 code challenge", authURL)
	}
	code := fmt.Sprintf("code-%d", time.Now().UnixNano())
	op.mu.Lock()
	op.grants[code] = grant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirectURI: q.Get("redirect_uri")}
	op.mu.Unlock()
	return code
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q}`, code)
}

func (op *testOP) token(w http.ResponseWriter, r *http.Request) {
	if op.tokenHang {
		// Reading the body lets the server notice the client hanging up.
		r.ParseForm()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	if op.tokenStatus != 0 {
		if strings.HasPrefix(op.tokenBody, "{") {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(op.tokenStatus)
		fmt.Fprint(w, op.tokenBody)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "authorization_code" {
		oauthError(w, 400, "invalid_request")
		return
	}
	if op.checkClient != nil {
		if err := op.checkClient(r); err != nil {
			op.t.Errorf("token request: %v", err)
			oauthError(w, 401, "invalid_client")
			return
		}
	} else {
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != op.clientID || secret != op.clientSecret {
			oauthError(w, 401, "invalid_client")
			return
		}
	}
	op.mu.Lock()
	g, ok := op.grants[r.PostForm.Get("code")]
	delete(op.grants, r.PostForm.Get("code"))
	op.mu.Unlock()
	if !ok || g.redirectURI != r.PostForm.Get("redirect_uri") {
		oauthError(w, 400, "invalid_grant")
		return
	}
	verifier := r.PostForm.Get("code_verifier")
	if op.noPKCE && verifier != "" {
		oauthError(w, 400, "invalid_request")
		return
	}
	if g.challenge != "" {
		sum := sha256.Sum256([]byte(verifier))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			oauthError(w, 400, "invalid_grant")
			return
		}
	}
	writeJSON(w, map[string]any{
		"access_token": testAccessToken,
		"token_type":   "Bearer",
		"expires_in":   3600,
		"id_token":     op.idToken(g.nonce),
	})
}

func (op *testOP) idToken(nonce string) string {
	now := time.Now()
	iss := op.tokenIssuer
	if iss == "" {
		iss = op.issuer()
	}
	c := map[string]any{"iss": iss, "aud": op.clientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if nonce != "" {
		c["nonce"] = nonce
	}
	for k, v := range op.claims {
		c[k] = v
	}
	if op.mutate != nil {
		op.mutate(c)
	}
	key := op.key
	if op.signWith != nil {
		key = op.signWith
	}
	return signES256(op.t, key, "k1", c)
}

func signES256(t *testing.T, key *ecdsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	sig, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sig.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// flow is what the caller of a connector holds for one interaction.
type flow struct {
	state, nonce, verifier, redirectURI string
}

func newFlow() flow {
	return flow{
		state:       "state-" + randomString(),
		nonce:       "nonce-" + randomString(),
		verifier:    randomString() + randomString(), // 43+ characters
		redirectURI: "https://atrium.example/federation/callback",
	}
}

func randomString() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (f flow) request() AuthRequest {
	return AuthRequest{State: f.state, Nonce: f.nonce, CodeVerifier: f.verifier, RedirectURI: f.redirectURI}
}

func (f flow) callback(params url.Values) Callback {
	return Callback{Params: params, Nonce: f.nonce, CodeVerifier: f.verifier, RedirectURI: f.redirectURI}
}
