package keys

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite/token/jwt"
)

// Signer returns the manager as fosite's jwt.Signer, for ID tokens and JWT
// access tokens: Generate signs with the active key (kid and typ JWT in the
// header), Decode and Validate accept tokens signed by any published key.
func (m *Manager) Signer() jwt.Signer { return (*fositeSigner)(m) }

type fositeSigner Manager

var _ jwt.Signer = (*fositeSigner)(nil)

// AlgorithmHeader is the header entry that picks the algorithm of a token
// (a client's id_token_signed_response_alg): Generate signs with the active
// key of that algorithm and leaves the entry out of the token.
const AlgorithmHeader = "atrium_alg"

// Generate signs claims with the active key. The header carries kid, alg
// and typ JWT plus the entries of header.ToMap(), which may override typ
// but never alg or kid; AlgorithmHeader picks another algorithm's key. It
// returns the token and its signature segment.
func (f *fositeSigner) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	if claims == nil {
		return "", "", errors.New("keys: claims are nil")
	}
	var extra map[string]any
	if header != nil {
		extra = header.ToMap()
	}
	payload, err := json.Marshal(map[string]any(claims))
	if err != nil {
		return "", "", fmt.Errorf("keys: encode claims: %w", err)
	}
	token, err := (*Manager)(f).signPayload(ctx, payload, extra)
	if err != nil {
		return "", "", err
	}
	sig, err := signature(token)
	if err != nil {
		return "", "", err
	}
	return token, sig, nil
}

// Validate verifies the token (signature by a published key, exp, iat and
// nbf) and returns its signature segment.
func (f *fositeSigner) Validate(ctx context.Context, token string) (string, error) {
	if _, err := f.Decode(ctx, token); err != nil {
		return "", err
	}
	return signature(token)
}

// Decode parses and verifies the token with fosite's parser, so the result
// is a *jwt.Token marked valid. The token must name the kid of a published
// key and use that key's algorithm; alg none is refused. Errors are
// *jwt.ValidationError; an expired but otherwise good token yields the
// token together with an error that has jwt.ValidationErrorExpired, which
// fosite accepts for id_token_hint.
func (f *fositeSigner) Decode(ctx context.Context, token string) (*jwt.Token, error) {
	m := (*Manager)(f)
	return jwt.ParseWithClaims(token, jwt.MapClaims{}, func(t *jwt.Token) (any, error) {
		alg := string(t.Method)
		if alg == "" || strings.EqualFold(alg, "none") {
			return nil, fmt.Errorf("keys: unsigned token (alg %q) refused", alg)
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("keys: token has no kid")
		}
		k, err := m.lookup(ctx, kid)
		if err != nil {
			return nil, err
		}
		if alg != k.alg {
			return nil, fmt.Errorf("keys: token alg %s does not match key %s (%s)", alg, kid, k.alg)
		}
		return k.verifyKey, nil
	})
}

// Hash hashes in with the digest of the active key's algorithm: SHA-256 for
// RS256 and ES256, SHA-512 for EdDSA (the OpenID at_hash and c_hash rule).
func (f *fositeSigner) Hash(ctx context.Context, in []byte) ([]byte, error) {
	if (*Manager)(f).activeAlgorithm(ctx) == EdDSA {
		sum := sha512.Sum512(in)
		return sum[:], nil
	}
	sum := sha256.Sum256(in)
	return sum[:], nil
}

// GetSigningMethodLength is the size in bytes of the digest Hash returns.
func (f *fositeSigner) GetSigningMethodLength(ctx context.Context) int {
	if (*Manager)(f).activeAlgorithm(ctx) == EdDSA {
		return sha512.Size
	}
	return sha256.Size
}

// GetSignature returns the signature segment of a compact JWS.
func (f *fositeSigner) GetSignature(_ context.Context, token string) (string, error) {
	return signature(token)
}

// activeAlgorithm is the active key's algorithm, or the configured one when
// no key is loaded.
func (m *Manager) activeAlgorithm(ctx context.Context) string {
	if k, err := m.activeKey(ctx); err == nil {
		return k.alg
	}
	return m.opts.Algorithm
}

// Algorithm returns the algorithm of the active signing key (the
// configured one when there is none yet).
func (m *Manager) Algorithm(ctx context.Context) string { return m.activeAlgorithm(ctx) }

func signature(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("keys: a JWT has a header, a payload and a signature")
	}
	return parts[2], nil
}

// Sign serializes claims as JSON and signs them with the active key, with
// typ in the header ("" means JWT), e.g. "logout+jwt" for logout tokens.
func (m *Manager) Sign(ctx context.Context, claims any, typ string) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("keys: encode claims: %w", err)
	}
	var extra map[string]any
	if typ != "" && typ != "JWT" {
		extra = map[string]any{"typ": typ}
	}
	return m.signPayload(ctx, payload, extra)
}

func (m *Manager) signPayload(ctx context.Context, payload []byte, extra map[string]any) (string, error) {
	alg, _ := extra[AlgorithmHeader].(string)
	if alg != "" {
		rest := make(map[string]any, len(extra))
		for name, v := range extra {
			if name != AlgorithmHeader {
				rest[name] = v
			}
		}
		extra = rest
	}
	k, err := m.activeKeyFor(ctx, alg)
	if err != nil {
		return "", err
	}
	signer := k.signer
	if hasExtra(extra) {
		if signer, err = k.newSigner(extra); err != nil {
			return "", fmt.Errorf("keys: %w", err)
		}
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("keys: sign with %s: %w", k.kid, err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("keys: serialize: %w", err)
	}
	return token, nil
}

// hasExtra reports whether extra holds headers beyond those every token has.
func hasExtra(extra map[string]any) bool {
	for name, v := range extra {
		switch name {
		case "alg", "kid":
			continue
		case "typ":
			if v == "JWT" {
				continue
			}
		}
		return true
	}
	return false
}

// Verify checks a compact JWS against the published keys (its kid must
// name one, its alg must be that key's) and returns the payload. It does
// not look at the claims: the caller checks exp, aud and the rest.
func (m *Manager) Verify(ctx context.Context, token string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("keys: parse token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("keys: token must carry exactly one signature")
	}
	h := jws.Signatures[0].Protected
	if h.KeyID == "" {
		return nil, errors.New("keys: token has no kid")
	}
	k, err := m.lookup(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	if h.Algorithm != k.alg {
		return nil, fmt.Errorf("keys: token alg %s does not match key %s (%s)", h.Algorithm, k.kid, k.alg)
	}
	payload, err := jws.Verify(k.pub)
	if err != nil {
		return nil, fmt.Errorf("keys: verify: %w", err)
	}
	return payload, nil
}
