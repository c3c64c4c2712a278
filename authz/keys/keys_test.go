package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite/token/jwt"

	"github.com/atrium-id/atrium/internal/secretbox"
	"github.com/atrium-id/atrium/storage"
)

const issuer = "https://id.example.test"

// clock is a settable clock shared by the managers of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func masterSecret(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func newManager(t *testing.T, st storage.KeyStore, master []byte, opts Options) *Manager {
	t.Helper()
	box, err := secretbox.New(master, "signing-keys")
	if err != nil {
		t.Fatalf("secretbox.New: %v", err)
	}
	m, err := NewManager(st, box, opts)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	return m
}

// ensured returns a manager over a fresh store with one active key of alg.
func ensured(t *testing.T, alg string, c *clock) *Manager {
	t.Helper()
	m := newManager(t, newStore(t), masterSecret(1), Options{Algorithm: alg, Now: c.Now})
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return m
}

func idClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": issuer,
		"sub": "user-1",
		"aud": []string{"client-1"},
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

func mint(t *testing.T, m *Manager, claims jwt.MapClaims) string {
	t.Helper()
	token, sig, err := m.Signer().Generate(context.Background(), claims, &jwt.Headers{Extra: map[string]any{"alg": "none", "kid": "forged"}})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if want := token[strings.LastIndex(token, ".")+1:]; sig != want {
		t.Fatalf("Generate signature = %q, want the third segment %q", sig, want)
	}
	return token
}

// fetchJWKS reads the JWKS the way a relying party does, over HTTP.
func fetchJWKS(t *testing.T, m *Manager) jose.JSONWebKeySet {
	t.Helper()
	rec := httptest.NewRecorder()
	m.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jwks", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("JWKS status %d: %s", rec.Code, rec.Body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	return set
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// verifyJOSE verifies token against set with go-jose and returns its kid.
func verifyJOSE(t *testing.T, set jose.JSONWebKeySet, token string) (string, error) {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return "", err
	}
	kid := jws.Signatures[0].Header.KeyID
	found := set.Key(kid)
	if len(found) != 1 {
		return kid, errors.New("kid not in the JWKS")
	}
	if found[0].Algorithm != jws.Signatures[0].Header.Algorithm {
		return kid, errors.New("JWKS alg differs from the token's")
	}
	_, err = jws.Verify(found[0])
	return kid, err
}

func TestGenerateVerifiesWithJOSEAndOIDC(t *testing.T) {
	tests := []struct {
		name string
		alg  string
	}{
		{"default is RS256", ""},
		{"RS256", RS256},
		{"ES256", ES256},
		{"EdDSA", EdDSA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := newClock()
			m := ensured(t, tt.alg, c)
			wantAlg := tt.alg
			if wantAlg == "" {
				wantAlg = RS256
			}
			token := mint(t, m, idClaims(time.Now()))

			set := fetchJWKS(t, m)
			if len(set.Keys) != 1 {
				t.Fatalf("JWKS has %d keys, want 1", len(set.Keys))
			}
			jwk := set.Keys[0]
			if jwk.Algorithm != wantAlg || jwk.Use != "sig" || !jwk.IsPublic() {
				t.Errorf("JWKS key alg=%q use=%q public=%v", jwk.Algorithm, jwk.Use, jwk.IsPublic())
			}
			tp, err := jwk.Thumbprint(crypto.SHA256)
			if err != nil || base64.RawURLEncoding.EncodeToString(tp) != jwk.KeyID {
				t.Errorf("kid %q is not the RFC 7638 thumbprint (%v)", jwk.KeyID, err)
			}

			kid, err := verifyJOSE(t, set, token)
			if err != nil {
				t.Fatalf("go-jose verify: %v", err)
			}
			if kid == "" || kid != jwk.KeyID {
				t.Errorf("token kid %q, JWKS kid %q", kid, jwk.KeyID)
			}
			header := decodeSegment(t, token, 0)
			if header["typ"] != "JWT" || header["alg"] != wantAlg {
				t.Errorf("header = %v, want typ JWT and alg %s", header, wantAlg)
			}

			v := oidc.NewVerifier(issuer, &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{jwk.Key}}, &oidc.Config{
				ClientID:             "client-1",
				SupportedSigningAlgs: []string{wantAlg},
				Now:                  c.Now,
			})
			idt, err := v.Verify(ctx, token)
			if err != nil {
				t.Fatalf("go-oidc verify: %v", err)
			}
			if idt.Subject != "user-1" {
				t.Errorf("subject %q", idt.Subject)
			}

			dec, err := m.Signer().Decode(ctx, token)
			if err != nil || !dec.Valid() {
				t.Fatalf("Decode: valid=%v err=%v", dec != nil && dec.Valid(), err)
			}
			if dec.Claims["sub"] != "user-1" || dec.Header["kid"] != kid {
				t.Errorf("decoded claims %v header %v", dec.Claims, dec.Header)
			}
			sig, err := m.Signer().Validate(ctx, token)
			if err != nil || sig != token[strings.LastIndex(token, ".")+1:] {
				t.Errorf("Validate = %q, %v", sig, err)
			}
		})
	}
}

func decodeSegment(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGenerateHeaders(t *testing.T) {
	tests := []struct {
		name    string
		header  jwt.Mapper
		wantTyp string
		wantX   any
	}{
		{"nil header", nil, "JWT", nil},
		{"empty header", jwt.NewHeaders(), "JWT", nil},
		{"typ override and extra", &jwt.Headers{Extra: map[string]any{"typ": "at+jwt", "x": "y"}}, "at+jwt", "y"},
		{"alg and kid are ignored", &jwt.Headers{Extra: map[string]any{"alg": "HS256", "kid": "other"}}, "JWT", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			m := ensured(t, ES256, c)
			token, _, err := m.Signer().Generate(context.Background(), idClaims(time.Now()), tt.header)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			h := decodeSegment(t, token, 0)
			if h["typ"] != tt.wantTyp || h["x"] != tt.wantX || h["alg"] != ES256 {
				t.Errorf("header = %v", h)
			}
			if _, err := verifyJOSE(t, fetchJWKS(t, m), token); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
	}{
		// A rotation replaces the key of its algorithm; keys of other
		// algorithms are TestActiveKeyPerAlgorithm's.
		{"RS256, default algorithm", RS256, ""},
		{"ES256", ES256, ES256},
		{"EdDSA", EdDSA, EdDSA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := newClock()
			m := ensured(t, tt.from, c)
			old := mint(t, m, idClaims(time.Now()))
			oldKID := decodeSegment(t, old, 0)["kid"]

			c.Add(time.Second)
			info, err := m.Rotate(ctx, tt.to)
			if err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			wantAlg := tt.to
			if wantAlg == "" {
				wantAlg = tt.from
			}
			if info.Algorithm != wantAlg || info.Status != storage.KeyActive || info.KID == oldKID || info.NotAfter != nil {
				t.Errorf("Rotate info = %+v", info)
			}
			fresh := mint(t, m, idClaims(time.Now()))
			if h := decodeSegment(t, fresh, 0); h["kid"] != info.KID || h["alg"] != wantAlg {
				t.Errorf("after rotation the header is %v, want kid %s", h, info.KID)
			}

			set := fetchJWKS(t, m)
			if got := kids(set); len(got) != 2 || got[0] != info.KID || got[1] != oldKID {
				t.Errorf("JWKS kids = %v, want [%s %s] (active first)", got, info.KID, oldKID)
			}
			for name, tok := range map[string]string{"old": old, "new": fresh} {
				if _, err := verifyJOSE(t, set, tok); err != nil {
					t.Errorf("%s token does not verify against the JWKS: %v", name, err)
				}
				if _, err := m.Signer().Decode(ctx, tok); err != nil {
					t.Errorf("%s token: Decode: %v", name, err)
				}
			}

			list, err := m.List(ctx)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(list) != 2 || list[0].KID != info.KID || list[1].Status != storage.KeyRetired ||
				list[1].NotAfter == nil || !list[1].NotAfter.Equal(c.Now().Add(24*time.Hour)) {
				t.Errorf("List = %+v", list)
			}
			b, _ := json.Marshal(list)
			for _, secret := range []string{`"d"`, "PRIVATE", "private"} {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("List JSON %s contains %s", b, secret)
				}
			}
		})
	}
}

func TestRetiredKeyDropsAfterNotAfter(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := newManager(t, newStore(t), masterSecret(1), Options{Algorithm: ES256, RetireAfter: time.Hour, Refresh: time.Minute, Now: c.Now})
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	old := mint(t, m, idClaims(time.Now()))
	info, err := m.Rotate(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name      string
		advance   time.Duration
		wantKeys  int
		oldDecode bool
	}{
		{"just rotated", 0, 2, true},
		{"before NotAfter", 59 * time.Minute, 2, true},
		{"past NotAfter", 2 * time.Minute, 1, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			c.Add(st.advance)
			set := fetchJWKS(t, m)
			if len(set.Keys) != st.wantKeys || set.Keys[0].KeyID != info.KID {
				t.Errorf("JWKS kids = %v, want %d with %s first", kids(set), st.wantKeys, info.KID)
			}
			_, err := m.Signer().Decode(ctx, old)
			if (err == nil) != st.oldDecode {
				t.Errorf("Decode(old token) err = %v, want success %v", err, st.oldDecode)
			}
			list, err := m.List(ctx)
			if err != nil || len(list) != st.wantKeys {
				t.Errorf("List = %+v, %v; want %d keys", list, err, st.wantKeys)
			}
		})
	}
}

func TestStoredPrivateKeyIsSealed(t *testing.T) {
	tests := []struct{ alg string }{{RS256}, {ES256}, {EdDSA}}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			ctx := context.Background()
			st := newStore(t)
			m := newManager(t, st, masterSecret(1), Options{Algorithm: tt.alg})
			if err := m.Ensure(ctx); err != nil {
				t.Fatal(err)
			}
			recs, err := st.ListKeys(ctx)
			if err != nil || len(recs) != 1 {
				t.Fatalf("ListKeys = %v, %v", recs, err)
			}
			rec := recs[0]
			k := m.state.Load().active
			der, err := x509.MarshalPKCS8PrivateKey(k.priv)
			if err != nil {
				t.Fatal(err)
			}
			var scalar []byte
			switch p := k.priv.(type) {
			case *rsa.PrivateKey:
				scalar = p.D.Bytes()
			case *ecdsa.PrivateKey:
				scalar, _ = p.Bytes()
				scalar = scalar[1:]
			case ed25519.PrivateKey:
				scalar = p.Seed()
			}
			for name, secret := range map[string][]byte{"PKCS#8": der, "scalar": scalar, "scalar prefix": scalar[:16]} {
				if bytes.Contains(rec.PrivateKey, secret) {
					t.Errorf("stored PrivateKey contains the %s bytes", name)
				}
			}
			if bytes.Contains(rec.PublicJWK, []byte(`"d"`)) {
				t.Errorf("PublicJWK holds private material: %s", rec.PublicJWK)
			}
			var pub jose.JSONWebKey
			if err := json.Unmarshal(rec.PublicJWK, &pub); err != nil || !pub.IsPublic() || pub.KeyID != rec.ID || pub.Algorithm != tt.alg || pub.Use != "sig" {
				t.Errorf("PublicJWK = %s (%v)", rec.PublicJWK, err)
			}
		})
	}
}

func TestWrongMasterSecret(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	if err := newManager(t, st, masterSecret(1), Options{}).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	other := newManager(t, st, masterSecret(2), Options{})
	calls := []struct {
		name string
		call func() error
	}{
		{"Ensure", func() error { return other.Ensure(ctx) }},
		{"JWKS", func() error { _, err := other.JWKS(ctx); return err }},
		{"Generate", func() error { _, _, err := other.Signer().Generate(ctx, jwt.MapClaims{}, nil); return err }},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, ErrMasterSecret) {
				t.Fatalf("err = %v, want ErrMasterSecret", err)
			}
			if !strings.Contains(err.Error(), "master secret does not match the one the signing keys were sealed with") {
				t.Errorf("error %q does not explain the master secret mismatch", err)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := ensured(t, ES256, c)
	good := mint(t, m, idClaims(time.Now()))
	kid := decodeSegment(t, good, 0)["kid"].(string)
	stranger := mint(t, ensured(t, ES256, c), idClaims(time.Now()))

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(alg jose.SignatureAlgorithm, key any, kid string) string {
		opts := (&jose.SignerOptions{}).WithType("JWT")
		if kid != "" {
			opts.WithHeader("kid", kid)
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(idClaims(time.Now()))
		jws, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	b64 := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	parts := strings.Split(good, ".")
	tamperedSig := []byte(parts[2])
	// Swap one character for another base64url letter, so the signature
	// still decodes but no longer verifies.
	if tamperedSig[10] == 'A' {
		tamperedSig[10] = 'B'
	} else {
		tamperedSig[10] = 'A'
	}
	spki, _ := x509.MarshalPKIXPublicKey(m.state.Load().active.pub)

	tests := []struct {
		name    string
		token   string
		wantErr string
	}{
		{"alg none", b64(map[string]any{"alg": "none", "kid": kid, "typ": "JWT"}) + "." + parts[1] + ".", "unsigned token"},
		{"alg none with the good signature", b64(map[string]any{"alg": "none", "kid": kid}) + "." + parts[1] + "." + parts[2], "unsigned token"},
		{"unknown kid", stranger, "unknown key id"},
		{"no kid", sign(jose.ES256, ecKey, ""), "no kid"},
		{"foreign key under our kid", sign(jose.ES256, ecKey, kid), "cryptographic primitive"},
		{"alg RS256 against an ES256 key", sign(jose.RS256, rsaKey, kid), "does not match key"},
		{"HS256 keyed with the public key", sign(jose.HS256, spki, kid), "does not match key"},
		{"tampered signature", parts[0] + "." + parts[1] + "." + string(tamperedSig), "cryptographic primitive"},
		{"tampered payload", parts[0] + "." + b64(map[string]any{"sub": "admin", "exp": c.Now().Add(time.Hour).Unix()}) + "." + parts[2], "cryptographic primitive"},
		{"malformed", "not-a-jwt", "three parts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := m.Signer().Decode(ctx, tt.token)
			if err == nil || (tok != nil && tok.Valid()) {
				t.Fatalf("Decode accepted the token (err %v)", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want it to mention %q", err, tt.wantErr)
			}
			var ve *jwt.ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("err %T %v is not a *jwt.ValidationError", err, err)
			}
			if _, err := m.Signer().Validate(ctx, tt.token); err == nil {
				t.Error("Validate accepted the token")
			}
			if _, err := m.Verify(ctx, tt.token); err == nil {
				t.Error("Verify accepted the token")
			}
		})
	}
}

func TestDecodeExpired(t *testing.T) {
	c := newClock()
	m := ensured(t, RS256, c)
	claims := idClaims(time.Now().Add(-2 * time.Hour))
	tok, err := m.Signer().Decode(context.Background(), mint(t, m, claims))
	var ve *jwt.ValidationError
	if !errors.As(err, &ve) || !ve.Has(jwt.ValidationErrorExpired) {
		t.Fatalf("err = %v, want ValidationErrorExpired", err)
	}
	if tok == nil || tok.Claims["sub"] != "user-1" {
		t.Errorf("an expired token's claims must still be returned (id_token_hint): %+v", tok)
	}
}

func TestHashSizes(t *testing.T) {
	tests := []struct {
		alg  string
		size int
	}{{RS256, 32}, {ES256, 32}, {EdDSA, 64}}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			ctx := context.Background()
			m := ensured(t, tt.alg, newClock())
			s := m.Signer()
			h, err := s.Hash(ctx, []byte("access-token"))
			if err != nil || len(h) != tt.size {
				t.Errorf("Hash = %d bytes, %v; want %d", len(h), err, tt.size)
			}
			if n := s.GetSigningMethodLength(ctx); n != tt.size {
				t.Errorf("GetSigningMethodLength = %d, want %d", n, tt.size)
			}
			if a := m.Algorithm(ctx); a != tt.alg {
				t.Errorf("Algorithm = %s", a)
			}
			sig, err := s.GetSignature(ctx, "a.b.c")
			if err != nil || sig != "c" {
				t.Errorf("GetSignature = %q, %v", sig, err)
			}
			if _, err := s.GetSignature(ctx, "a.b"); err == nil {
				t.Error("GetSignature accepted two segments")
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	tests := []struct {
		name    string
		alg     string
		typ     string
		wantTyp string
	}{
		{"RS256 default typ", RS256, "", "JWT"},
		{"ES256 logout token", ES256, "logout+jwt", "logout+jwt"},
		{"EdDSA userinfo", EdDSA, "JWT", "JWT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m := ensured(t, tt.alg, newClock())
			claims := struct {
				Sub    string         `json:"sub"`
				Events map[string]any `json:"events"`
			}{"user-1", map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}}
			tok, err := m.Sign(ctx, claims, tt.typ)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if h := decodeSegment(t, tok, 0); h["typ"] != tt.wantTyp || h["alg"] != tt.alg || h["kid"] == "" {
				t.Errorf("header %v", h)
			}
			payload, err := m.Verify(ctx, tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want, _ := json.Marshal(claims)
			if !bytes.Equal(payload, want) {
				t.Errorf("payload %s, want %s", payload, want)
			}
			if _, err := verifyJOSE(t, fetchJWKS(t, m), tok); err != nil {
				t.Errorf("go-jose verify: %v", err)
			}
		})
	}
}

// A server and the CLI run a manager each over one store. The server picks
// up a key the CLI rotated in once its Refresh has passed, or at once when
// it must verify a token that names the new kid.
func TestTwoManagersShareRotation(t *testing.T) {
	tests := []struct {
		name string
		// pickUp makes the server notice the rotation.
		pickUp func(t *testing.T, c *clock, server *Manager, byCLI string)
	}{
		{"after Refresh", func(t *testing.T, c *clock, server *Manager, byCLI string) {
			c.Add(31 * time.Second)
		}},
		{"on a token with the new kid", func(t *testing.T, c *clock, server *Manager, byCLI string) {
			if _, err := server.Signer().Decode(context.Background(), byCLI); err != nil {
				t.Fatalf("server does not verify a token signed with the rotated key: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := newClock()
			st := newStore(t)
			server := newManager(t, st, masterSecret(1), Options{Refresh: 30 * time.Second, Now: c.Now})
			cli := newManager(t, st, masterSecret(1), Options{Refresh: 30 * time.Second, Now: c.Now})
			if err := server.Ensure(ctx); err != nil {
				t.Fatal(err)
			}
			if err := cli.Ensure(ctx); err != nil {
				t.Fatal(err)
			}
			first := server.state.Load().active.kid
			if k := cli.state.Load().active.kid; k != first {
				t.Fatalf("second Ensure made another key: %s, %s", first, k)
			}

			c.Add(time.Second)
			info, err := cli.Rotate(ctx, RS256)
			if err != nil {
				t.Fatal(err)
			}
			byCLI := mint(t, cli, idClaims(time.Now()))
			if got := decodeSegment(t, byCLI, 0)["kid"]; got != info.KID {
				t.Fatalf("CLI signs with %v right after rotating, want %s", got, info.KID)
			}
			if got := decodeSegment(t, mint(t, server, idClaims(time.Now())), 0)["kid"]; got != first {
				t.Errorf("server within Refresh signs with %v, want the cached %s", got, first)
			}

			tt.pickUp(t, c, server, byCLI)
			if got := decodeSegment(t, mint(t, server, idClaims(time.Now())), 0)["kid"]; got != info.KID {
				t.Errorf("server signs with %v, want the new %s", got, info.KID)
			}
			if got := kids(fetchJWKS(t, server)); len(got) != 2 || got[0] != info.KID || got[1] != first {
				t.Errorf("server JWKS kids = %v", got)
			}
		})
	}
}

func TestEnsureTwiceKeepsOneKey(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, newStore(t), masterSecret(1), Options{Algorithm: EdDSA})
	for range 2 {
		if err := m.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
	}
	list, err := m.List(ctx)
	if err != nil || len(list) != 1 || list[0].Status != storage.KeyActive || list[0].Algorithm != EdDSA {
		t.Fatalf("List = %+v, %v", list, err)
	}
}

func TestNewManagerOptions(t *testing.T) {
	box, err := secretbox.New(masterSecret(1), "signing-keys")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"defaults", Options{}, ""},
		{"EdDSA", Options{Algorithm: EdDSA}, ""},
		{"unknown algorithm", Options{Algorithm: "HS256"}, `"HS256": accepted are RS256, ES256 and EdDSA`},
		{"negative refresh", Options{Refresh: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewManager(newStore(t), box, tt.opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tt.opts.Algorithm == "" && (m.opts.Algorithm != RS256 || m.opts.RetireAfter != 24*time.Hour || m.opts.Refresh != 30*time.Second) {
					t.Errorf("defaults = %+v", m.opts)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	m, _ := NewManager(newStore(t), box, Options{})
	if _, err := m.Rotate(context.Background(), "PS256"); err == nil || !strings.Contains(err.Error(), "accepted are") {
		t.Errorf("Rotate(PS256) err = %v", err)
	}
}

func TestJWKSHandler(t *testing.T) {
	m := ensured(t, RS256, newClock())
	tests := []struct {
		method   string
		wantCode int
		wantBody bool
	}{
		{http.MethodGet, http.StatusOK, true},
		{http.MethodHead, http.StatusOK, false},
		{http.MethodPost, http.StatusMethodNotAllowed, false},
		{http.MethodDelete, http.StatusMethodNotAllowed, false},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			srv := httptest.NewServer(m.JWKSHandler())
			defer srv.Close()
			req, _ := http.NewRequest(tt.method, srv.URL, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if tt.wantCode == http.StatusMethodNotAllowed {
				if a := resp.Header.Get("Allow"); a != "GET, HEAD" {
					t.Errorf("Allow = %q", a)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=60" {
				t.Errorf("Cache-Control = %q", cc)
			}
			if (body.Len() > 0) != tt.wantBody {
				t.Errorf("body length %d", body.Len())
			}
			if tt.wantBody {
				var set jose.JSONWebKeySet
				if err := json.Unmarshal(body.Bytes(), &set); err != nil || len(set.Keys) != 1 {
					t.Errorf("body %s: %v", body.Bytes(), err)
				}
				if bytes.Contains(body.Bytes(), []byte(`"d"`)) || bytes.Contains(body.Bytes(), []byte(`"p"`)) {
					t.Errorf("JWKS leaks private material: %s", body.Bytes())
				}
			}
		})
	}
}

// The signing path must not touch the store.
func TestSigningDoesNotTouchStore(t *testing.T) {
	c := newClock()
	st := &countingStore{KeyStore: newStore(t)}
	m := newManager(t, st, masterSecret(1), Options{Algorithm: ES256, Now: c.Now})
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := st.lists.Load()
	for range 50 {
		tok := mint(t, m, idClaims(time.Now()))
		if _, err := m.Signer().Decode(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.lists.Load() - before; n != 0 {
		t.Errorf("signing and decoding listed the store %d times", n)
	}
}

// Signing, verifying and serving the JWKS while keys rotate and the cache
// expires is safe (run with -race).
func TestConcurrentUseDuringRotation(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := newManager(t, newStore(t), masterSecret(1), Options{Algorithm: ES256, Refresh: time.Millisecond, Now: c.Now})
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 4 {
		wg.Go(func() {
			for range 25 {
				tok, _, err := m.Signer().Generate(ctx, idClaims(time.Now()), nil)
				if err == nil {
					_, err = m.Signer().Decode(ctx, tok)
				}
				if err == nil {
					_, err = m.JWKS(ctx)
				}
				if err != nil {
					errs <- err
					return
				}
				c.Add(time.Millisecond)
			}
		})
	}
	for range 3 {
		if _, err := m.Rotate(ctx, ""); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestActiveKeyPerAlgorithm: with several algorithms configured, each has
// an active key, the JWKS publishes them all, a token asks for its
// algorithm with an "alg" header entry, and rotating one algorithm's key
// leaves the others active.
func TestActiveKeyPerAlgorithm(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := newManager(t, newStore(t), masterSecret(1), Options{Algorithm: RS256, Algorithms: []string{ES256, EdDSA}, Now: c.Now})
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	infos, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	active := map[string]string{}
	for _, k := range infos {
		if k.Status == storage.KeyActive {
			if active[k.Algorithm] != "" {
				t.Errorf("two active %s keys", k.Algorithm)
			}
			active[k.Algorithm] = k.KID
		}
	}
	if len(infos) != 3 || len(active) != 3 {
		t.Fatalf("keys after Ensure twice: %+v, want one active key per algorithm", infos)
	}
	set, err := m.JWKS(ctx)
	if err != nil || len(set.Keys) != 3 {
		t.Fatalf("JWKS: %d keys, %v; want 3", len(set.Keys), err)
	}
	for _, alg := range []string{"", RS256, ES256, EdDSA} {
		var header jwt.Mapper = &jwt.Headers{}
		if alg != "" {
			header = &jwt.Headers{Extra: map[string]any{AlgorithmHeader: alg}}
		}
		token, _, err := m.Signer().Generate(ctx, jwt.MapClaims{"sub": "x", "exp": c.Now().Add(time.Hour).Unix()}, header)
		if err != nil {
			t.Fatalf("Generate(alg %q): %v", alg, err)
		}
		want := alg
		if want == "" {
			want = RS256
		}
		h := decodeHeader(t, token)
		if h["alg"] != want || h["kid"] != active[want] || h[AlgorithmHeader] != nil {
			t.Errorf("Generate(alg %q): header %v, want alg %s and kid %s", alg, h, want, active[want])
		}
		if _, err := m.Verify(ctx, token); err != nil {
			t.Errorf("Verify(%s token): %v", want, err)
		}
	}
	if _, _, err := m.Signer().Generate(ctx, jwt.MapClaims{"sub": "x"}, &jwt.Headers{Extra: map[string]any{AlgorithmHeader: "HS256"}}); err == nil {
		t.Error("Generate with alg HS256 succeeded, want an error")
	}

	next, err := m.Rotate(ctx, ES256)
	if err != nil {
		t.Fatal(err)
	}
	infos, _ = m.List(ctx)
	for _, k := range infos {
		switch {
		case k.KID == active[ES256] && k.Status != storage.KeyRetired:
			t.Errorf("old ES256 key %s is %s after rotating ES256, want retired", k.KID, k.Status)
		case (k.KID == active[RS256] || k.KID == active[EdDSA] || k.KID == next.KID) && k.Status != storage.KeyActive:
			t.Errorf("key %s (%s) is %s after rotating ES256, want active", k.KID, k.Algorithm, k.Status)
		}
	}
}

func decodeHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}
