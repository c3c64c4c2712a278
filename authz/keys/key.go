package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v4"

	"github.com/atrium-id/atrium/internal/secretbox"
	"github.com/atrium-id/atrium/storage"
)

// Signing algorithms a key may use.
const (
	RS256 = "RS256" // RSA 2048 with SHA-256
	ES256 = "ES256" // ECDSA P-256 with SHA-256
	EdDSA = "EdDSA" // Ed25519
)

// Algorithms lists the accepted signing algorithms.
var Algorithms = []string{RS256, ES256, EdDSA}

// ErrMasterSecret is returned when a stored key does not open under the
// configured master secret.
var ErrMasterSecret = errors.New("the master secret does not match the one the signing keys were sealed with")

func checkAlgorithm(alg string) error {
	switch alg {
	case RS256, ES256, EdDSA:
		return nil
	}
	return fmt.Errorf("unknown signing algorithm %q: accepted are %s, %s and %s", alg, RS256, ES256, EdDSA)
}

// key is one decrypted signing key, ready to sign and verify.
type key struct {
	kid       string
	alg       string
	status    string
	createdAt time.Time
	notAfter  time.Time
	sealed    []byte // the stored envelope, to reuse this key across reloads

	priv crypto.Signer
	pub  crypto.PublicKey
	// verifyKey is what fosite's jwt.ParseWithClaims (go-jose v3) is given:
	// the public key itself, except for Ed25519, whose slice type fosite
	// would turn into an unsupported pointer, so it is wrapped in a v3 JWK.
	verifyKey any
	jwk       jose.JSONWebKey // public, with kid, alg and use
	signer    jose.Signer     // kid and typ JWT in the header
}

// expired reports whether a retired key is past its NotAfter at now.
func (k *key) expired(now time.Time) bool {
	return !k.notAfter.IsZero() && !now.Before(k.notAfter)
}

func (k *key) info() KeyInfo {
	ki := KeyInfo{KID: k.kid, Algorithm: k.alg, Status: k.status, CreatedAt: k.createdAt}
	if !k.notAfter.IsZero() {
		na := k.notAfter
		ki.NotAfter = &na
	}
	return ki
}

// generate makes a fresh private key for alg.
func generate(alg string) (crypto.Signer, error) {
	switch alg {
	case RS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, checkAlgorithm(alg)
}

// thumbprint is the RFC 7638 SHA-256 JWK thumbprint, base64url.
func thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("jwk thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// newKey builds the ready-to-use key around a private key and checks that
// it fits alg.
func newKey(alg string, priv crypto.Signer) (*key, error) {
	pub := priv.Public()
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if alg != RS256 {
			return nil, fmt.Errorf("an RSA key cannot sign %s", alg)
		}
	case *ecdsa.PublicKey:
		if alg != ES256 || p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("an ECDSA %s key cannot sign %s", p.Curve.Params().Name, alg)
		}
	case ed25519.PublicKey:
		if alg != EdDSA {
			return nil, fmt.Errorf("an Ed25519 key cannot sign %s", alg)
		}
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	kid, err := thumbprint(pub)
	if err != nil {
		return nil, err
	}
	k := &key{
		kid:       kid,
		alg:       alg,
		priv:      priv,
		pub:       pub,
		verifyKey: pub,
		jwk:       jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"},
	}
	if ed, ok := pub.(ed25519.PublicKey); ok {
		k.verifyKey = &josev3.JSONWebKey{Key: ed, KeyID: kid, Algorithm: alg, Use: "sig"}
	}
	k.signer, err = k.newSigner(nil)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// newSigner returns a go-jose signer with kid, typ JWT and the extra
// headers (which may override typ but never alg or kid).
func (k *key) newSigner(extra map[string]any) (jose.Signer, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for name, v := range extra {
		switch name {
		case "alg", "kid":
			continue
		}
		opts.WithHeader(jose.HeaderKey(name), v)
	}
	opts.WithHeader("kid", k.kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.alg), Key: k.priv}, opts)
	if err != nil {
		return nil, fmt.Errorf("signer for key %s: %w", k.kid, err)
	}
	return s, nil
}

// seal turns a new key into the record to store.
func seal(box *secretbox.Box, k *key, now time.Time) (*storage.SigningKey, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	sealed, err := box.Seal(der, []byte(k.kid))
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("seal private key: %w", err)
	}
	pubJWK, err := k.jwk.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	k.sealed = sealed
	k.status = storage.KeyActive
	k.createdAt = now
	return &storage.SigningKey{
		ID:         k.kid,
		Algorithm:  k.alg,
		PrivateKey: sealed,
		PublicJWK:  pubJWK,
		Status:     storage.KeyActive,
		CreatedAt:  now,
	}, nil
}

// open turns a stored record into a ready-to-use key. The public half is
// recomputed from the private one and must hash to the stored kid.
func open(box *secretbox.Box, sk *storage.SigningKey) (*key, error) {
	if err := checkAlgorithm(sk.Algorithm); err != nil {
		return nil, fmt.Errorf("key %s: %w", sk.ID, err)
	}
	der, err := box.Open(sk.PrivateKey, []byte(sk.ID))
	if err != nil {
		if errors.Is(err, secretbox.ErrOpen) {
			return nil, fmt.Errorf("key %s: %w (%w)", sk.ID, ErrMasterSecret, err)
		}
		return nil, fmt.Errorf("key %s: %w", sk.ID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("key %s: decode private key: %w", sk.ID, err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key %s: unsupported private key type %T", sk.ID, parsed)
	}
	k, err := newKey(sk.Algorithm, priv)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", sk.ID, err)
	}
	if k.kid != sk.ID {
		return nil, fmt.Errorf("key %s: private key has thumbprint %s", sk.ID, k.kid)
	}
	k.sealed = sk.PrivateKey
	k.status = sk.Status
	k.createdAt = sk.CreatedAt
	k.notAfter = sk.NotAfter
	return k, nil
}
