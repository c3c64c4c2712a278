package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// RequestObjectNone is the request_object_signing_alg of a client whose
// request objects are unsigned (OpenID Connect Core §6.1).
const RequestObjectNone = "none"

// RequestObjectAlgs are the request_object_signing_alg values a client may
// have: with one, its request objects must use it; without, any of them.
var RequestObjectAlgs = []string{"RS256", "ES256", "EdDSA", RequestObjectNone}

// MaxRequestURILength is the longest request_uri a client may use (RFC
// 9101 §5.2).
const MaxRequestURILength = 512

// CheckRequestURI accepts a request_uri a client registers: an https URL
// of at most MaxRequestURILength characters, without user information.
// Its fragment, if any, is part of it (OpenID Connect Core §6.2 puts a
// hash of the request object there).
func CheckRequestURI(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil:
		return fmt.Errorf("%q is not an https URL", s)
	case len(s) > MaxRequestURILength:
		return fmt.Errorf("%q is longer than %d characters", s, MaxRequestURILength)
	}
	return nil
}

// CheckRequestObjectAlg accepts a client's request_object_signing_alg:
// empty, none, or a signing algorithm when the client has keys to verify
// it with.
func CheckRequestObjectAlg(alg string, hasKeys bool) error {
	switch {
	case alg == "" || alg == RequestObjectNone:
		return nil
	case !slices.Contains(RequestObjectAlgs, alg):
		return fmt.Errorf("%q is not one of %s", alg, strings.Join(RequestObjectAlgs, ", "))
	case !hasKeys:
		return fmt.Errorf("a client signs request objects with a key of its key set: %s needs one (private_key_jwt with its public keys)", alg)
	}
	return nil
}

// CheckRequestObjectKeys accepts a client's key set (already checked by
// CheckJWKS) when it holds a key for its request_object_signing_alg: RSA
// for RS256, P-256 for ES256, Ed25519 for EdDSA. Empty and none need no
// key.
func CheckRequestObjectKeys(alg string, jwks []byte) error {
	var fits func(any) bool
	switch alg {
	case "RS256":
		fits = func(k any) bool { _, ok := k.(*rsa.PublicKey); return ok }
	case "ES256":
		fits = func(k any) bool { e, ok := k.(*ecdsa.PublicKey); return ok && e.Curve == elliptic.P256() }
	case "EdDSA":
		fits = func(k any) bool { _, ok := k.(ed25519.PublicKey); return ok }
	default:
		return nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	if !slices.ContainsFunc(set.Keys, func(k jose.JSONWebKey) bool { return fits(k.Key) }) {
		return fmt.Errorf("the key set has no key for %s", alg)
	}
	return nil
}
