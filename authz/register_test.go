package authz

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
)

// newRegistrationEnv is a test provider with dynamic client registration
// in mode, reg applied to its policy, and the clock clock.
func newRegistrationEnv(t *testing.T, mode string, clock *pkClock, reg func(*Registration), state ...storage.StateStore) *testEnv {
	t.Helper()
	return newTestEnvWith(t, func(c *Config) {
		c.Registration.Mode = mode
		if reg != nil {
			reg(&c.Registration)
		}
		if clock != nil {
			c.Now = clock.now
		}
	}, state...)
}

// call sends a request with a JSON body (when body is not nil) and a
// bearer token (when token is not empty) and returns the status, the
// decoded JSON answer (nil when it is not JSON) and the headers.
func (e *testEnv) call(method, path, token, contentType string, body []byte) (int, map[string]any, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out, resp.Header
}

func (e *testEnv) registerJSON(token string, md any) (int, map[string]any) {
	e.t.Helper()
	b, err := json.Marshal(md)
	if err != nil {
		e.t.Fatal(err)
	}
	status, out, _ := e.call(http.MethodPost, pathRegister, token, "application/json", b)
	return status, out
}

// clientIDs lists the IDs of every stored client.
func (e *testEnv) clientIDs() []string {
	e.t.Helper()
	cs, _, err := e.store.ListClients(context.Background(), storage.Page{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

// rsaJWKS returns a new RSA key and the public key set of it.
func rsaJWKS(t *testing.T) (*rsa.PrivateKey, json.RawMessage, json.RawMessage) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	return key, pub, priv
}

// TestRegistrationRejectsBadMetadata: every bad registration is refused
// with 400 and the RFC 7591 error code, and stores nothing.
func TestRegistrationRejectsBadMetadata(t *testing.T) {
	e := newRegistrationEnv(t, RegistrationOpen, nil, nil)
	_, _, privJWKS := rsaJWKS(t)
	web := `"redirect_uris":["https://rp.example/cb"]`
	for _, tc := range []struct {
		name, body, contentType, want string
	}{
		{"javascript redirect", `{"redirect_uris":["javascript:alert(1)"]}`, "", "invalid_redirect_uri"},
		{"javascript redirect of a native client", `{"application_type":"native","redirect_uris":["javascript:alert(1)"]}`, "", "invalid_redirect_uri"},
		{"data redirect", `{"application_type":"native","redirect_uris":["data:text/html,hi"]}`, "", "invalid_redirect_uri"},
		{"file redirect", `{"application_type":"native","redirect_uris":["file:///etc/passwd"]}`, "", "invalid_redirect_uri"},
		{"http redirect", `{"redirect_uris":["http://rp.example/cb"]}`, "", "invalid_redirect_uri"},
		{"http non-loopback redirect of a native client", `{"application_type":"native","redirect_uris":["http://rp.example/cb"]}`, "", "invalid_redirect_uri"},
		{"redirect with a fragment", `{"redirect_uris":["https://rp.example/cb#frag"]}`, "", "invalid_redirect_uri"},
		{"relative redirect", `{"redirect_uris":["/cb"]}`, "", "invalid_redirect_uri"},
		{"loopback redirect of a web client", `{"redirect_uris":["http://127.0.0.1:8080/cb"]}`, "", "invalid_redirect_uri"},
		{"localhost https redirect of a web client", `{"redirect_uris":["https://localhost/cb"]}`, "", "invalid_redirect_uri"},
		{"custom scheme of a web client", `{"redirect_uris":["com.example.app:/cb"]}`, "", "invalid_redirect_uri"},
		{"custom scheme not in reverse domain order", `{"application_type":"native","redirect_uris":["myapp:/cb"]}`, "", "invalid_redirect_uri"},
		{"redirect with user info", `{"redirect_uris":["https://user@rp.example/cb"]}`, "", "invalid_redirect_uri"},
		{"no redirect URIs for the code grant", `{"client_name":"x"}`, "", "invalid_redirect_uri"},
		{"unknown application type", `{"application_type":"desktop",` + web + `}`, "", "invalid_client_metadata"},
		{"unknown auth method", `{"token_endpoint_auth_method":"client_secret_jwt",` + web + `}`, "", "invalid_client_metadata"},
		{"jwks and jwks_uri", `{"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://rp.example/jwks","jwks":{"keys":[]},` + web + `}`, "", "invalid_client_metadata"},
		{"jwks that does not parse", `{"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":"nope"},` + web + `}`, "", "invalid_client_metadata"},
		{"jwks with a private key", `{"token_endpoint_auth_method":"private_key_jwt","jwks":` + string(privJWKS) + `,` + web + `}`, "", "invalid_client_metadata"},
		{"jwks_uri not https", `{"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://rp.example/jwks",` + web + `}`, "", "invalid_client_metadata"},
		{"private_key_jwt without keys", `{"token_endpoint_auth_method":"private_key_jwt",` + web + `}`, "", "invalid_client_metadata"},
		{"unsupported assertion algorithm", `{"token_endpoint_auth_method":"private_key_jwt","token_endpoint_auth_signing_alg":"HS256","jwks_uri":"https://rp.example/jwks",` + web + `}`, "", "invalid_client_metadata"},
		{"unknown grant type", `{"grant_types":["password"],` + web + `}`, "", "invalid_client_metadata"},
		{"grant type outside the policy", `{"grant_types":["authorization_code","client_credentials"],` + web + `}`, "", "invalid_client_metadata"},
		{"unsupported response type", `{"response_types":["token"],` + web + `}`, "", "invalid_client_metadata"},
		{"code without authorization_code", `{"grant_types":["refresh_token"],"response_types":["code"],` + web + `}`, "", "invalid_client_metadata"},
		{"authorization_code without code", `{"grant_types":["authorization_code"],"response_types":["id_token"],` + web + `}`, "", "invalid_client_metadata"},
		{"logo_uri not https", `{"logo_uri":"http://rp.example/logo.png",` + web + `}`, "", "invalid_client_metadata"},
		{"policy_uri javascript", `{"policy_uri":"javascript:alert(1)",` + web + `}`, "", "invalid_client_metadata"},
		{"tos_uri relative", `{"tos_uri":"/tos",` + web + `}`, "", "invalid_client_metadata"},
		{"client_uri ftp", `{"client_uri":"ftp://rp.example/",` + web + `}`, "", "invalid_client_metadata"},
		{"contact not an email", `{"contacts":["ops@rp.example","call me"],` + web + `}`, "", "invalid_client_metadata"},
		{"ID token alg none", `{"id_token_signed_response_alg":"none",` + web + `}`, "", "invalid_client_metadata"},
		{"ID token alg HS256", `{"id_token_signed_response_alg":"HS256",` + web + `}`, "", "invalid_client_metadata"},
		{"userinfo alg not advertised", `{"userinfo_signed_response_alg":"PS512",` + web + `}`, "", "invalid_client_metadata"},
		{"request object alg without keys", `{"request_object_signing_alg":"RS256",` + web + `}`, "", "invalid_client_metadata"},
		{"request URI too long", `{"request_uris":["https://rp.example/` + strings.Repeat("r", 600) + `"],` + web + `}`, "", "invalid_client_metadata"},
		{"request object alg HS256", `{"request_object_signing_alg":"HS256",` + web + `}`, "", "invalid_client_metadata"},
		{"encrypted ID tokens", `{"id_token_encrypted_response_alg":"RSA-OAEP",` + web + `}`, "", "invalid_client_metadata"},
		{"dpop_bound_access_tokens not a boolean", `{"dpop_bound_access_tokens":"yes",` + web + `}`, "", "invalid_client_metadata"},
		{"unknown subject type", `{"subject_type":"secret",` + web + `}`, "", "invalid_client_metadata"},
		{"http sector identifier URI", `{"sector_identifier_uri":"http://rp.example/sector.json",` + web + `}`, "", "invalid_client_metadata"},
		{"account API scope", `{"scope":"openid ` + ScopeAccountWrite + `",` + web + `}`, "", "invalid_client_metadata"},
		{"unknown scope", `{"scope":"openid admin",` + web + `}`, "", "invalid_client_metadata"},
		{"client name on two lines", `{"client_name":"a\nb",` + web + `}`, "", "invalid_client_metadata"},
		{"post-logout redirect javascript", `{"post_logout_redirect_uris":["javascript:alert(1)"],` + web + `}`, "", "invalid_client_metadata"},
		{"post-logout redirect http", `{"post_logout_redirect_uris":["http://rp.example/bye"],` + web + `}`, "", "invalid_client_metadata"},
		{"back-channel logout http", `{"backchannel_logout_uri":"http://rp.example/logout",` + web + `}`, "", "invalid_client_metadata"},
		{"back-channel logout with a fragment", `{"backchannel_logout_uri":"https://rp.example/logout#x",` + web + `}`, "", "invalid_client_metadata"},
		{"front-channel logout http", `{"frontchannel_logout_uri":"http://rp.example/logout",` + web + `}`, "", "invalid_client_metadata"},
		{"front-channel logout host with a ';'", `{"frontchannel_logout_uri":"https://rp.example;sandbox/logout",` + web + `}`, "", "invalid_client_metadata"},
		{"request URI not https", `{"request_uris":["http://rp.example/req"],` + web + `}`, "", "invalid_client_metadata"},
		{"negative default_max_age", `{"default_max_age":-1,` + web + `}`, "", "invalid_client_metadata"},
		{"default_max_age not an integer", `{"default_max_age":"soon",` + web + `}`, "", "invalid_client_metadata"},
		{"default_max_age a fraction", `{"default_max_age":1.5,` + web + `}`, "", "invalid_client_metadata"},
		{"malformed JSON", `{"redirect_uris":["https://rp.example/cb"]`, "", "invalid_client_metadata"},
		{"JSON array", `[` + "{" + web + "}" + `]`, "", "invalid_client_metadata"},
		{"wrong content type", "{" + web + "}", "application/x-www-form-urlencoded", "invalid_client_metadata"},
		{"no content type", "{" + web + "}", "none", "invalid_client_metadata"},
		{"body over 64 KiB", `{"client_name":"` + strings.Repeat("a", 70<<10) + `",` + web + `}`, "", "invalid_client_metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.clientIDs()
			ct := tc.contentType
			switch ct {
			case "":
				ct = "application/json"
			case "none":
				ct = ""
			}
			status, out, _ := e.call(http.MethodPost, pathRegister, "", ct, []byte(tc.body))
			if status != http.StatusBadRequest || out["error"] != tc.want {
				t.Errorf("POST /register = %d %v, want 400 %s", status, out, tc.want)
			}
			if d, _ := out["error_description"].(string); d == "" {
				t.Errorf("POST /register answered %v without an error_description", out)
			}
			if after := e.clientIDs(); !slices.Equal(after, before) {
				t.Errorf("a refused registration changed the clients from %q to %q", before, after)
			}
		})
	}
}

// TestRegistrationPolicy: the operator's redirect hosts and auth methods
// bound what a client may register.
func TestRegistrationPolicy(t *testing.T) {
	e := newRegistrationEnv(t, RegistrationOpen, nil, func(r *Registration) {
		r.AllowedRedirectHosts = []string{"rp.example"}
		r.AllowedAuthMethods = []string{"private_key_jwt", "none"}
	})
	for _, tc := range []struct {
		name string
		md   map[string]any
		want string
	}{
		{"host outside the list", map[string]any{"token_endpoint_auth_method": "none", "redirect_uris": []string{"https://evil.example/cb"}}, "invalid_redirect_uri"},
		{"auth method outside the list", map[string]any{"redirect_uris": []string{"https://rp.example/cb"}}, "invalid_client_metadata"},
	} {
		status, out := e.registerJSON("", tc.md)
		if status != http.StatusBadRequest || out["error"] != tc.want {
			t.Errorf("%s: POST /register = %d %v, want 400 %s", tc.name, status, out, tc.want)
		}
	}
	if ids := e.clientIDs(); len(ids) != 2 {
		t.Errorf("clients after refused registrations = %q, want only the two of the test env", ids)
	}
	status, out := e.registerJSON("", map[string]any{"token_endpoint_auth_method": "none", "redirect_uris": []string{"https://RP.example/cb"}})
	if status != http.StatusCreated {
		t.Errorf("registering an allowed host = %d %v, want 201", status, out)
	}
}

// TestRegisterWebClient: a confidential web client gets an ID, a secret
// and a registration access token, both kept as digests only; unknown
// metadata is dropped; the client is third-party and marked dynamic.
func TestRegisterWebClient(t *testing.T) {
	e := newRegistrationEnv(t, RegistrationOpen, nil, nil)
	md := map[string]any{
		"redirect_uris": []string{"https://rp.example/cb", "https://rp.example/cb2?x=1"},
		"client_name":   "Relying Party", "contacts": []string{"ops@rp.example"},
		"logo_uri": "https://rp.example/logo.png", "policy_uri": "https://rp.example/privacy",
		"tos_uri": "https://rp.example/tos", "client_uri": "https://rp.example/",
		"post_logout_redirect_uris": []string{"https://rp.example/bye"},
		"backchannel_logout_uri":    "https://rp.example/bc", "backchannel_logout_session_required": true,
		"frontchannel_logout_uri": "https://rp.example/fc",
		"grant_types":             []string{"authorization_code", "refresh_token"},
		"software_id":             "rp-soft", "software_version": "1.2",
		"first_party": true, "made_up_field": "echo me", "jwks": nil,
	}
	status, out := e.registerJSON("", md)
	if status != http.StatusCreated {
		t.Fatalf("POST /register = %d %v, want 201", status, out)
	}
	id, _ := out["client_id"].(string)
	secret, _ := out["client_secret"].(string)
	token, _ := out["registration_access_token"].(string)
	if id == "" || secret == "" || token == "" {
		t.Fatalf("registration answer %v lacks client_id, client_secret or registration_access_token", out)
	}
	if out["registration_client_uri"] != e.srv.URL+pathRegister+"/"+id {
		t.Errorf("registration_client_uri = %v", out["registration_client_uri"])
	}
	if out["client_secret_expires_at"] != float64(0) || out["client_id_issued_at"] == nil {
		t.Errorf("client_secret_expires_at = %v, client_id_issued_at = %v; want 0 and a time", out["client_secret_expires_at"], out["client_id_issued_at"])
	}
	for _, k := range []string{"made_up_field", "first_party"} {
		if _, ok := out[k]; ok {
			t.Errorf("the answer echoes %s", k)
		}
	}
	for k, want := range map[string]any{"token_endpoint_auth_method": "client_secret_basic", "client_name": "Relying Party",
		"logo_uri": "https://rp.example/logo.png", "application_type": "web", "response_types": []any{"code"}} {
		if got, _ := json.Marshal(out[k]); string(got) != string(must(json.Marshal(want))) {
			t.Errorf("%s = %s, want %v", k, got, want)
		}
	}
	c, err := e.store.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case c.Registration != "dynamic" || c.FirstParty || c.Public:
		t.Errorf("stored client: registration %q, first party %v, public %v; want dynamic, false, false", c.Registration, c.FirstParty, c.Public)
	case !bytes.Equal(c.SecretHash, HashClientSecret(secret)) || !bytes.Equal(c.RegistrationAccessTokenHash, HashClientSecret(token)):
		t.Error("the stored digests are not those of the secret and registration access token answered")
	case c.BackchannelLogoutURI != "https://rp.example/bc" || !c.BackchannelLogoutSessionRequired || c.FrontchannelLogoutURI != "https://rp.example/fc" ||
		c.ClientURI != "https://rp.example/" || c.SoftwareVersion != "1.2" || !slices.Equal(c.Contacts, []string{"ops@rp.example"}):
		t.Errorf("stored client lacks registered metadata: %+v", c)
	}
	// The secret authenticates the client.
	if got := e.introspectWith(t, id, secret); got != http.StatusOK {
		t.Errorf("introspection with the registered secret = %d, want 200", got)
	}
	if got := e.introspectWith(t, id, secret+"x"); got != http.StatusUnauthorized {
		t.Errorf("introspection with a wrong secret = %d, want 401", got)
	}
}

// introspectWith sends an introspection request authenticated as id with
// secret and returns the status.
func (e *testEnv) introspectWith(t *testing.T, id, secret string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+pathIntrospect, strings.NewReader("token=nothing"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestRegisterNativeClientCodeFlow: a public native client with a
// loopback redirect URI registers, then signs a user in with PKCE; its
// userinfo is a JWT signed with the registered algorithm, its ID token is
// signed with the registered algorithm and carries auth_time, and its
// refresh tokens (registered anonymously) end with the anonymous lifespan.
func TestRegisterNativeClientCodeFlow(t *testing.T) {
	e := newRegistrationEnv(t, RegistrationOpen, nil, func(r *Registration) { r.AnonymousRefreshTokenLifespan = 2 * time.Hour })
	status, out := e.registerJSON("", map[string]any{
		"application_type": "native", "redirect_uris": []string{testRedirect, "com.example.app:/cb"},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"},
		"userinfo_signed_response_alg": "ES256", "id_token_signed_response_alg": "EdDSA", "require_auth_time": true,
		"scope": "openid profile email offline_access",
	})
	if status != http.StatusCreated {
		t.Fatalf("POST /register = %d %v, want 201", status, out)
	}
	id := out["client_id"].(string)
	if _, ok := out["client_secret"]; ok {
		t.Errorf("a public client got a client_secret: %v", out)
	}
	b := e.browser()
	verifier, challenge := pkcePair()
	loc := e.signIn(b, codeParams(id, "openid profile offline_access", challenge))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", loc)
	}
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect},
		"client_id": {id}, "code_verifier": {verifier}}, "", "")
	if status != http.StatusOK {
		t.Fatalf("code exchange = %d %v", status, tok)
	}
	header, claims := jwtParts(t, tok["id_token"].(string))
	if aud, _ := claims["aud"].([]any); header["alg"] != "EdDSA" || claims["auth_time"] == nil || len(aud) != 1 || aud[0] != id {
		t.Errorf("ID token header %v claims %v; want alg EdDSA, auth_time, aud %s", header, claims, id)
	}

	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+pathUserinfo, nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/jwt" {
		t.Fatalf("userinfo = %d %s %q, want 200 application/jwt", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	header, claims = jwtParts(t, body)
	if header["alg"] != "ES256" || claims["sub"] != e.userID || claims["iss"] != e.srv.URL || claims["aud"] != id || claims["name"] != "Ada Lovelace" {
		t.Errorf("signed userinfo header %v claims %v", header, claims)
	}
	verifySignedByProvider(t, e, body)

	// The refresh token ends with the anonymous lifespan, not the
	// provider's 30 days.
	rt := tok["refresh_token"].(string)
	stored, err := e.store.GetToken(context.Background(), storage.KindRefreshToken, rt[strings.LastIndex(rt, ".")+1:])
	if err != nil {
		t.Fatal(err)
	}
	if life := time.Until(stored.ExpiresAt); life > 2*time.Hour+time.Minute || life < 2*time.Hour-time.Minute {
		t.Errorf("refresh token of an anonymously registered client lives %s, want 2h", life)
	}
}

// jwtParts decodes a JWT's header and claims without verifying it.
func jwtParts(t *testing.T, token string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWS", token)
	}
	var out [2]map[string]any
	for i := range out {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, &out[i]) != nil {
			t.Fatalf("part %d of %q is not base64url JSON", i, token)
		}
	}
	return out[0], out[1]
}

// verifySignedByProvider checks token's signature against the provider's
// JWKS.
func verifySignedByProvider(t *testing.T, e *testEnv, token string) {
	t.Helper()
	resp, err := http.Get(e.srv.URL + pathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(readBody(t, resp)), &set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) == 0 {
		t.Fatalf("no published key has kid %q", jws.Signatures[0].Header.KeyID)
	}
	if _, err := jws.Verify(keys[0]); err != nil {
		t.Errorf("the signature does not verify with the published key: %v", err)
	}
}

// TestRegisterPrivateKeyJWTClient: a client registered with a JWKS
// authenticates with a signed assertion.
func TestRegisterPrivateKeyJWTClient(t *testing.T) {
	e := newRegistrationEnv(t, RegistrationOpen, nil, func(r *Registration) {
		r.AllowedGrantTypes = []string{"authorization_code", "refresh_token", "client_credentials"}
	})
	key, jwks, _ := rsaJWKS(t)
	status, out := e.registerJSON("", map[string]any{
		"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks, "grant_types": []string{"client_credentials"},
		"scope": "openid",
	})
	if status != http.StatusCreated {
		t.Fatalf("POST /register = %d %v, want 201", status, out)
	}
	id := out["client_id"].(string)
	if _, ok := out["client_secret"]; ok {
		t.Errorf("a private_key_jwt client got a client_secret")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	assertion := func() string {
		payload, _ := json.Marshal(map[string]any{"iss": id, "sub": id, "aud": e.srv.URL + pathToken, "jti": randomToken(),
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()})
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		return must(jws.CompactSerialize())
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "scope": {"openid"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion()}}
	if status, out := e.postToken(form, "", ""); status != http.StatusOK || out["access_token"] == nil {
		t.Errorf("client_credentials with the registered key = %d %v, want 200 and a token", status, out)
	}
	form.Set("client_assertion", strings.Replace(assertion(), ".", ".x", 1))
	if status, out := e.postToken(form, "", ""); status != http.StatusUnauthorized {
		t.Errorf("client_credentials with a broken assertion = %d %v, want 401", status, out)
	}
}

// TestRegistrationManagement: the registration access token reads,
// replaces and deletes the client (RFC 7592); a wrong or missing token is
// 401 invalid_token, the same for a client that does not exist.
func TestRegistrationManagement(t *testing.T) {
	e := newRegistrationEnv(t, RegistrationOpen, nil, nil)
	status, out := e.registerJSON("", map[string]any{"redirect_uris": []string{testRedirectHTTPS}, "client_name": "Before"})
	if status != http.StatusCreated {
		t.Fatalf("POST /register = %d %v", status, out)
	}
	id, secret, token := out["client_id"].(string), out["client_secret"].(string), out["registration_access_token"].(string)
	path := pathRegister + "/" + id

	other, _ := e.registerJSON("", map[string]any{"redirect_uris": []string{testRedirectHTTPS}})
	if other != http.StatusCreated {
		t.Fatal("second registration failed")
	}
	for _, tc := range []struct{ name, method, path, token string }{
		{"no token", http.MethodGet, path, ""},
		{"wrong token", http.MethodGet, path, token + "x"},
		{"unknown client", http.MethodGet, pathRegister + "/nope", token},
		{"operator's client", http.MethodGet, pathRegister + "/app", token},
		{"update with a wrong token", http.MethodPut, path, "wrong"},
		{"delete with a wrong token", http.MethodDelete, path, "wrong"},
	} {
		status, out, h := e.call(tc.method, tc.path, tc.token, "application/json", []byte(`{"client_id":"`+id+`","redirect_uris":["https://rp.example/x"]}`))
		if status != http.StatusUnauthorized || out["error"] != "invalid_token" || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s: %s = %d %v, want 401 invalid_token", tc.name, tc.method, status, out)
		}
	}

	status, got, _ := e.call(http.MethodGet, path, token, "", nil)
	if status != http.StatusOK || got["client_name"] != "Before" || got["client_id"] != id {
		t.Fatalf("GET = %d %v", status, got)
	}
	for _, k := range []string{"client_secret", "registration_access_token"} {
		if _, ok := got[k]; ok {
			t.Errorf("GET answers %s", k)
		}
	}

	// Updates: bad ones change nothing.
	before, _ := e.store.GetClient(context.Background(), id)
	for _, tc := range []struct{ name, body, want string }{
		{"other client_id", `{"client_id":"app","redirect_uris":["https://rp.example/cb"]}`, "invalid_client_metadata"},
		{"no client_id", `{"redirect_uris":["https://rp.example/cb"]}`, "invalid_client_metadata"},
		{"wrong secret", `{"client_id":"` + id + `","client_secret":"nope","redirect_uris":["https://rp.example/cb"]}`, "invalid_client_metadata"},
		{"javascript redirect", `{"client_id":"` + id + `","redirect_uris":["javascript:alert(1)"]}`, "invalid_redirect_uri"},
	} {
		status, out, _ := e.call(http.MethodPut, path, token, "application/json", []byte(tc.body))
		if status != http.StatusBadRequest || out["error"] != tc.want {
			t.Errorf("PUT %s = %d %v, want 400 %s", tc.name, status, out, tc.want)
		}
	}
	if after, _ := e.store.GetClient(context.Background(), id); after.Name != before.Name || !slices.Equal(after.RedirectURIs, before.RedirectURIs) {
		t.Errorf("refused updates changed the client: %+v", after)
	}
	status, got, _ = e.call(http.MethodPut, path, token, "application/json",
		[]byte(`{"client_id":"`+id+`","client_secret":"`+secret+`","client_name":"After","redirect_uris":["https://rp.example/new"],"default_max_age":60}`))
	if status != http.StatusOK || got["client_name"] != "After" || got["default_max_age"] != float64(60) {
		t.Fatalf("PUT = %d %v", status, got)
	}
	// The update rotates the registration access token (RFC 7592 §2.2).
	rotated, _ := got["registration_access_token"].(string)
	if rotated == "" || rotated == token {
		t.Fatalf("PUT answered registration_access_token %q, want a new one", rotated)
	}
	if status, out, _ := e.call(http.MethodGet, path, token, "", nil); status != http.StatusUnauthorized || out["error"] != "invalid_token" {
		t.Errorf("GET with the token the update replaced = %d %v, want 401 invalid_token", status, out)
	}
	token = rotated
	if status, got, _ := e.call(http.MethodGet, path, token, "", nil); status != http.StatusOK || got["client_name"] != "After" {
		t.Errorf("GET with the new token = %d %v", status, got)
	}
	c, _ := e.store.GetClient(context.Background(), id)
	if c.Name != "After" || !slices.Equal(c.RedirectURIs, []string{"https://rp.example/new"}) || !bytes.Equal(c.SecretHash, HashClientSecret(secret)) ||
		c.Registration != "dynamic" || !c.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("after PUT the client is %+v", c)
	}

	// Delete: the client and its tokens go.
	at := e.clientToken(t, "app")
	if !e.introspect(t, at) {
		t.Fatal("token of app inactive")
	}
	status, _, _ = e.call(http.MethodDelete, path, token, "", nil)
	if status != http.StatusNoContent {
		t.Fatalf("DELETE = %d, want 204", status)
	}
	if _, err := e.store.GetClient(context.Background(), id); err != storage.ErrNotFound {
		t.Errorf("GetClient after DELETE = %v, want ErrNotFound", err)
	}
	if status, out, _ := e.call(http.MethodGet, path, token, "", nil); status != http.StatusUnauthorized || out["error"] != "invalid_token" {
		t.Errorf("GET after DELETE = %d %v, want 401 invalid_token", status, out)
	}
	if !e.introspect(t, at) {
		t.Error("deleting a registered client revoked another client's token")
	}
}

const testRedirectHTTPS = "https://rp.example/cb"

// clientToken is an access token of the client credentials grant of the
// test env's confidential client.
func (e *testEnv) clientToken(t *testing.T, id string) string {
	t.Helper()
	status, out := e.postToken(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}, id, testSecret)
	if status != http.StatusOK {
		t.Fatalf("client_credentials = %d %v", status, out)
	}
	return out["access_token"].(string)
}

// TestRegistrationDeleteRevokesTokens: deleting a registered client
// revokes the tokens it was issued.
func TestRegistrationDeleteRevokesTokens(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testRegistrationDeleteRevokesTokens(t, newRegistrationEnv(t, RegistrationOpen, nil, nil))
	})
	t.Run("redis", func(t *testing.T) {
		rs, err := redisstore.Open(context.Background(), redistest.URL(t), redisstore.WithPrefix("register-test:"+randomToken()[:12]+":"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		testRegistrationDeleteRevokesTokens(t, newRegistrationEnv(t, RegistrationOpen, nil, nil, rs))
	})
}

func testRegistrationDeleteRevokesTokens(t *testing.T, e *testEnv) {
	status, out := e.registerJSON("", map[string]any{"application_type": "native", "redirect_uris": []string{testRedirect},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}})
	if status != http.StatusCreated {
		t.Fatalf("POST /register = %d %v", status, out)
	}
	id, token := out["client_id"].(string), out["registration_access_token"].(string)
	verifier, challenge := pkcePair()
	loc := e.signIn(e.browser(), codeParams(id, "openid offline_access", challenge))
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {testRedirect}, "client_id": {id}, "code_verifier": {verifier}}, "", "")
	if status != http.StatusOK {
		t.Fatalf("code exchange = %d %v", status, tok)
	}
	at := tok["access_token"].(string)
	if !e.introspect(t, at) {
		t.Fatal("the new access token is inactive")
	}
	if status, _, _ := e.call(http.MethodDelete, pathRegister+"/"+id, token, "", nil); status != http.StatusNoContent {
		t.Fatalf("DELETE = %d", status)
	}
	if e.introspect(t, at) {
		t.Error("the access token of a deleted client is still active")
	}
	// Gone from the token store, not only unusable without the client.
	for kind, tk := range map[storage.TokenKind]string{storage.KindAccessToken: at, storage.KindRefreshToken: tok["refresh_token"].(string)} {
		if _, err := e.p.stores.Tokens.GetToken(context.Background(), kind, tk[strings.LastIndex(tk, ".")+1:]); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetToken(%v) of a deleted client = %v, want ErrNotFound", kind, err)
		}
	}
	status, out = e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "client_id": {id}}, "", "")
	if status == http.StatusOK {
		t.Errorf("refresh with a deleted client = %d %v, want an error", status, out)
	}
}

// TestRegistrationModes: mode off serves no endpoint and advertises none;
// mode token needs one of the initial access tokens.
func TestRegistrationModes(t *testing.T) {
	md := map[string]any{"redirect_uris": []string{testRedirectHTTPS}}
	discovery := func(e *testEnv) map[string]any {
		resp, err := http.Get(e.srv.URL + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		_ = json.Unmarshal([]byte(readBody(t, resp)), &doc)
		return doc
	}

	off := newTestEnv(t)
	if status, _ := off.registerJSON("", md); status != http.StatusNotFound {
		t.Errorf("mode off: POST /register = %d, want 404", status)
	}
	if _, ok := discovery(off)["registration_endpoint"]; ok {
		t.Error("mode off: discovery advertises registration_endpoint")
	}

	open := newRegistrationEnv(t, RegistrationOpen, nil, nil)
	if got := discovery(open)["registration_endpoint"]; got != open.srv.URL+pathRegister {
		t.Errorf("mode open: registration_endpoint = %v", got)
	}

	const initial = "initial-access-token-0123456789"
	e := newRegistrationEnv(t, RegistrationToken, nil, func(r *Registration) {
		r.InitialAccessTokens = [][]byte{HashClientSecret("another-token-abcdefghijkl"), HashClientSecret(initial)}
	})
	for _, tc := range []struct{ name, token string }{{"no token", ""}, {"wrong token", initial + "x"}, {"empty token", " "}} {
		status, out := e.registerJSON(tc.token, md)
		if status != http.StatusUnauthorized || out["error"] != "invalid_token" {
			t.Errorf("mode token, %s: POST /register = %d %v, want 401 invalid_token", tc.name, status, out)
		}
	}
	if ids := e.clientIDs(); len(ids) != 2 {
		t.Errorf("clients after refused registrations = %q", ids)
	}
	if status, out := e.registerJSON(initial, md); status != http.StatusCreated {
		t.Errorf("mode token with the initial access token = %d %v, want 201", status, out)
	}
	if _, err := New(Config{Issuer: "https://id.example", Secret: make([]byte, 32), Registration: Registration{Mode: RegistrationToken}}, Stores{}, nil, nil); err == nil {
		t.Error("New accepted mode token without initial access tokens")
	}
}

// TestDefaultMaxAge: a client's default_max_age applies to its requests
// that carry no max_age: after it, prompt=none answers login_required.
func TestDefaultMaxAge(t *testing.T) {
	clock := &pkClock{t: time.Now()}
	e := newRegistrationEnv(t, RegistrationOpen, clock, nil)
	reg := func(md map[string]any) string {
		md["application_type"], md["redirect_uris"], md["token_endpoint_auth_method"] = "native", []string{testRedirect}, "none"
		status, out := e.registerJSON("", md)
		if status != http.StatusCreated {
			t.Fatalf("POST /register = %d %v", status, out)
		}
		return out["client_id"].(string)
	}
	strict, lax := reg(map[string]any{"default_max_age": 60}), reg(map[string]any{})
	b := e.browser()
	for _, id := range []string{strict, lax} {
		_, challenge := pkcePair()
		e.signIn(b, codeParams(id, "openid", challenge))
	}
	clock.advance(2 * time.Minute)
	for _, tc := range []struct {
		id        string
		wantError string
	}{{strict, "login_required"}, {lax, ""}} {
		_, challenge := pkcePair()
		params := codeParams(tc.id, "openid", challenge)
		params.Set("prompt", "none")
		loc := e.signIn(b, params)
		if got := loc.Query().Get("error"); got != tc.wantError {
			t.Errorf("client %s: prompt=none two minutes after sign-in answered error %q (%s), want %q", tc.id, got, loc, tc.wantError)
		}
	}
}

// TestRegistrationThrottle: in mode open one address gets HourlyPerIP
// registrations an hour, then 429 with Retry-After and nothing stored.
func TestRegistrationThrottle(t *testing.T) {
	e := newRegistrationEnv(t, RegistrationOpen, nil, func(r *Registration) { r.HourlyPerIP = 2 })
	e.p.stores.Counters = e.store
	md := map[string]any{"redirect_uris": []string{testRedirectHTTPS}}
	for i := range 2 {
		if status, out := e.registerJSON("", md); status != http.StatusCreated {
			t.Fatalf("registration %d = %d %v, want 201", i+1, status, out)
		}
	}
	before := e.clientIDs()
	b, _ := json.Marshal(md)
	status, out, h := e.call(http.MethodPost, pathRegister, "", "application/json", b)
	if status != http.StatusTooManyRequests || out["error"] != "temporarily_unavailable" || h.Get("Retry-After") == "" {
		t.Errorf("third registration = %d %v (Retry-After %q), want 429 temporarily_unavailable with Retry-After", status, out, h.Get("Retry-After"))
	}
	if after := e.clientIDs(); !slices.Equal(after, before) {
		t.Errorf("a throttled registration changed the clients from %q to %q", before, after)
	}
}

// TestRegisterDPoPBoundClient: a client registered with
// dpop_bound_access_tokens gets no token without a DPoP proof.
func TestRegisterDPoPBoundClient(t *testing.T) {
	e := newRegistrationEnv(t, RegistrationOpen, nil, nil)
	status, out := e.registerJSON("", map[string]any{"application_type": "native", "redirect_uris": []string{testRedirect},
		"token_endpoint_auth_method": "none", "dpop_bound_access_tokens": true})
	if status != http.StatusCreated || out["dpop_bound_access_tokens"] != true {
		t.Fatalf("POST /register = %d %v, want 201 with dpop_bound_access_tokens", status, out)
	}
	id := out["client_id"].(string)
	verifier, challenge := pkcePair()
	loc := e.signIn(e.browser(), codeParams(id, "openid", challenge))
	status, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {testRedirect}, "client_id": {id}, "code_verifier": {verifier}}, "", "")
	if status != http.StatusBadRequest || tok["error"] != "invalid_dpop_proof" {
		t.Errorf("code exchange without a DPoP proof = %d %v, want 400 invalid_dpop_proof", status, tok)
	}
}
