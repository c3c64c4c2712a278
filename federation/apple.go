package federation

import (
	"crypto/ecdsa"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

const (
	appleIssuer = "https://appleid.apple.com"
	// appleAudience is the client secret JWT's aud, whatever the issuer
	// override.
	appleAudience = "https://appleid.apple.com"
	// Apple accepts client secrets valid up to six months; ours live a day
	// and are signed again an hour before they expire.
	appleSecretLifetime = 24 * time.Hour
	appleSecretRenew    = time.Hour
)

// newApple: Sign in with Apple.
//
//   - The callback is a POST (response_mode=form_post): Apple requires it
//     when name or email is requested.
//   - The client secret is an ES256 JWT (iss team ID, sub client ID, aud
//     https://appleid.apple.com, kid key ID) signed with the operator's key,
//     cached and signed again before it expires; it goes in the form body.
//   - The user's name is never in the ID token: Apple posts it once, on the
//     first sign-in, in the user form parameter
//     ({"name":{"firstName","lastName"},"email"}). It is kept in the claims
//     under "user" and fills the names (and the email if the token has none).
//   - email_verified and is_private_email may be the strings "true"/"false".
//     A private relay address (is_private_email) is a working, verified
//     address; the flag stays in the claims.
func newApple(b base, key *ecdsa.PrivateKey) Connector {
	b.mode = ResponseModeFormPost
	c := newOIDC(b, or(b.cfg.Issuer, appleIssuer))
	c.defaultScopes = []string{"openid", "name", "email"}
	c.authParams.Set("response_mode", ResponseModeFormPost)
	c.authStyle = oauth2.AuthStyleInParams
	c.noUserinfo = true // Apple has none
	s := &appleSecret{key: key, keyID: b.cfg.KeyID, teamID: b.cfg.TeamID, clientID: b.cfg.ClientID}
	c.secret = s.get
	c.callback = func(p url.Values, cl claims) {
		raw := p.Get("user")
		if raw == "" {
			return
		}
		if u, err := parseClaims([]byte(raw)); err == nil {
			cl["user"] = map[string]any(u)
		}
	}
	c.adjust = func(id *Identity, cl claims) {
		if id.GivenName == "" {
			id.GivenName = cl.str("user.name.firstName")
		}
		if id.FamilyName == "" {
			id.FamilyName = cl.str("user.name.lastName")
		}
		if id.Name == "" {
			id.Name = strings.TrimSpace(id.GivenName + " " + id.FamilyName)
		}
		if id.Email == "" {
			// Only from the first sign-in's form, which Apple sends with the
			// token; not verified by the token itself.
			id.Email = cl.str("user.email")
			id.EmailVerified = false
		}
	}
	return c
}

// appleSecret signs and caches Apple's client secret JWT.
type appleSecret struct {
	key                     *ecdsa.PrivateKey
	keyID, teamID, clientID string

	mu  sync.Mutex
	jwt string
	exp time.Time
}

func (s *appleSecret) get(now time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jwt != "" && now.Add(appleSecretRenew).Before(s.exp) {
		return s.jwt, nil
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.ES256, Key: s.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", s.keyID),
	)
	if err != nil {
		return "", err
	}
	exp := now.Add(appleSecretLifetime)
	payload, err := json.Marshal(map[string]any{
		"iss": s.teamID,
		"sub": s.clientID,
		"aud": appleAudience,
		"iat": now.Unix(),
		"exp": exp.Unix(),
	})
	if err != nil {
		return "", err
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	jwt, err := sig.CompactSerialize()
	if err != nil {
		return "", err
	}
	s.jwt, s.exp = jwt, exp
	return jwt, nil
}
