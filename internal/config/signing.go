package config

import (
	"cmp"
	"fmt"
	"time"

	"github.com/atrium-id/atrium/authz/keys"
)

// SignedTokenLifespan is the longest lifespan of a token the signing keys
// sign: ID tokens, and access tokens for the clients that get them as JWTs.
func (c *Config) SignedTokenLifespan() time.Duration {
	return max(c.Tokens.IDTokenLifespan.D, c.Tokens.AccessTokenLifespan.D)
}

// signedLifespanKey names the key of SignedTokenLifespan.
func (c *Config) signedLifespanKey() string {
	if c.Tokens.AccessTokenLifespan.D > c.Tokens.IDTokenLifespan.D {
		return "tokens.access_token_lifespan"
	}
	return "tokens.id_token_lifespan"
}

// setSigningDefaults runs after the token lifespans have their defaults.
func (c *Config) setSigningDefaults() {
	if r := &c.Signing.RetireAfter; r.raw == "" && r.D == 0 {
		r.D = max(keys.DefaultRetireAfter, keys.MinRetireAfter(c.SignedTokenLifespan(), 0))
	}
}

// SigningPublishBefore is signing.publish_before, or its default.
func (c *Config) SigningPublishBefore() time.Duration {
	return cmp.Or(c.Signing.PublishBefore.D, keys.DefaultPublishBefore)
}

// validateSigning checks the rotation keys; signing.algorithm and the
// syntax of signing.retire_after are checked with the other keys.
func (c *Config) validateSigning() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{c.key(path)}, args...)...))
	}
	s := c.Signing
	every, before := s.RotateEvery, c.SigningPublishBefore()
	switch {
	case every.bad:
		bad("signing.rotate_every", "%q is not a duration (use Go syntax such as 2160h for 90 days, or 0 to rotate only by hand)", every.raw)
	case every.D < 0:
		bad("signing.rotate_every", "must not be negative, got %s (0 rotates only by hand)", every.D)
	}
	least := keys.MinPublishBefore(0)
	switch {
	case s.PublishBefore.bad:
		bad("signing.publish_before", "%q is not a duration (use Go syntax such as 90s, 1h, 24h)", s.PublishBefore.raw)
	case before < least:
		bad("signing.publish_before", "must be at least %s (the JWKS max-age %s plus the key reload interval %s), so relying parties have the next key before its first token, got %s",
			least, keys.JWKSMaxAge, keys.DefaultRefresh, before)
	case every.D > 0 && before >= every.D:
		what := before.String()
		if s.PublishBefore.D == 0 {
			what += " (the default)"
		}
		bad("signing.publish_before", "%s must be shorter than %s (%s)", what, c.key("signing.rotate_every"), every.D)
	}
	if lifespan := c.SignedTokenLifespan(); !s.RetireAfter.bad && s.RetireAfter.D > 0 {
		if need := keys.MinRetireAfter(lifespan, 0); s.RetireAfter.D < need {
			bad("signing.retire_after", "%s is shorter than %s: %s (%s) plus the key reload interval (%s) and the JWKS max-age (%s); a token signed just before a rotation would stop verifying before it expires",
				s.RetireAfter.D, need, c.key(c.signedLifespanKey()), lifespan, keys.DefaultRefresh, keys.JWKSMaxAge)
		}
	}
	return errs
}
