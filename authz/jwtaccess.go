package authz

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// JWT access tokens (RFC 9068), for clients whose AccessTokenFormat is
// "jwt"; every other client keeps opaque (HMAC) access tokens.
//
// A JWT access token is signed with the provider's keys, as ID tokens
// are, with typ at+jwt in its header and iss, exp, aud, sub, client_id,
// iat, jti, scope, (when known) auth_time, acr and amr, and cnf.jkt when
// it is bound to a DPoP key. Its server-side
// state is stored as an opaque token's is, under the JWT's signature
// segment, so introspection, revocation, userinfo, the account API and
// refresh work as they do for opaque tokens, and a revoked JWT is refused
// by Atrium's own endpoints. A resource server validating it locally with
// the JWKS accepts it until it expires, so its lifespan is capped by
// Config.JWTAccessTokenLifespan.
//
// aud is the resources the token was issued for (resource.go). Without
// one, RFC 9068 §3 still requires a default resource indicator: Atrium's
// own endpoints (userinfo, the account API) are the resource then, and
// aud is the issuer.

const (
	accessTokenFormatJWT = "jwt"
	// accessTokenType is the typ header of JWT access tokens (RFC 9068 §2.1).
	accessTokenType = "at+jwt"
)

// isJWTClient reports whether c gets JWT access tokens.
func isJWTClient(c fosite.Client) bool {
	cl, ok := c.(*client)
	return ok && cl.c.AccessTokenFormat == accessTokenFormatJWT
}

// defaultAudience is the aud of a JWT access token issued for no resource.
func (p *Provider) defaultAudience() []string { return []string{p.cfg.Issuer} }

// jwtAccessStrategy issues JWT access tokens to the clients that ask for
// them and leaves the rest, and refresh tokens and codes, to the opaque
// strategy it wraps.
type jwtAccessStrategy struct {
	oauth2.CoreStrategy
	p *Provider
}

func (p *Provider) accessTokenStrategy(opaque oauth2.CoreStrategy) oauth2.CoreStrategy {
	return &jwtAccessStrategy{CoreStrategy: opaque, p: p}
}

// isJWT tells a JWT (header.payload.signature) from an opaque token
// (prefix_key.signature).
func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

func (s *jwtAccessStrategy) AccessTokenSignature(ctx context.Context, token string) string {
	if isJWT(token) {
		return token[strings.LastIndexByte(token, '.')+1:]
	}
	return s.CoreStrategy.AccessTokenSignature(ctx, token)
}

func (s *jwtAccessStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	if !isJWTClient(r.GetClient()) {
		return s.CoreStrategy.GenerateAccessToken(ctx, r)
	}
	p := s.p
	now := p.now()
	clientID := r.GetClient().GetID()
	aud := accessAudience(ctx, r)
	if len(aud) == 0 {
		aud = p.defaultAudience()
	}
	claims := jwt.MapClaims{
		"iss":       p.cfg.Issuer,
		"aud":       []string(aud),
		"client_id": clientID,
		"iat":       now.Unix(),
		"jti":       randomToken(),
	}
	sess := r.GetSession()
	sub := p.releasedSubject(r.GetClient(), sess.GetSubject())
	if sub == "" {
		sub = clientID // a client_credentials grant (RFC 9068 §2.2)
	}
	claims["sub"] = sub
	// Capped: a resource server validating the JWT itself accepts it until
	// it expires. The stored state and expires_in follow the cap.
	exp := sess.GetExpiresAt(fosite.AccessToken)
	if limit := now.Add(p.cfg.JWTAccessTokenLifespan).Round(time.Second); exp.IsZero() || exp.After(limit) {
		exp = limit
		sess.SetExpiresAt(fosite.AccessToken, exp)
	}
	claims["exp"] = exp.Unix()
	if scopes := r.GetGrantedScopes(); len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	if act, ok := ctx.Value(exchangeActKey{}).(map[string]any); ok {
		claims["act"] = act // an exchanged token's (tokenexchange.go)
	}
	if m := memoOf(ctx); m != nil && m.bindAccess != "" {
		// Bound to a DPoP key (dpop.go): a resource server validating
		// the JWT itself checks the proof against it (RFC 9449 §6.1).
		claims["cnf"] = map[string]any{"jkt": m.bindAccess}
	}
	if ds, ok := sess.(*openid.DefaultSession); ok && ds.Claims != nil {
		c := ds.Claims
		if !c.AuthTime.IsZero() {
			claims["auth_time"] = c.AuthTime.Unix()
		}
		if c.AuthenticationContextClassReference != "" {
			claims["acr"] = c.AuthenticationContextClassReference
		}
		if len(c.AuthenticationMethodsReferences) > 0 {
			claims["amr"] = c.AuthenticationMethodsReferences
		}
	}
	return p.keys.Signer().Generate(ctx, claims, &jwt.Headers{Extra: map[string]any{"typ": accessTokenType}})
}

// ValidateAccessToken checks a JWT's signature against the published keys
// and its expiry against the stored grant, by the provider's clock.
func (s *jwtAccessStrategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if err := s.p.checkOrigin(ctx, r); err != nil {
		return err
	}
	if !isJWT(token) {
		return s.CoreStrategy.ValidateAccessToken(ctx, r, token)
	}
	t, err := s.p.keys.Signer().Decode(ctx, token)
	var ve *jwt.ValidationError
	// The clock is the provider's, not the parser's.
	const timing = jwt.ValidationErrorExpired | jwt.ValidationErrorIssuedAt | jwt.ValidationErrorNotValidYet
	if err != nil && (!errors.As(err, &ve) || ve.Errors&^timing != 0) {
		return fosite.ErrTokenSignatureMismatch.WithWrap(err).WithDebug(err.Error())
	}
	if t == nil || t.Header["typ"] != accessTokenType {
		return fosite.ErrTokenSignatureMismatch.WithHint("The token is not an access token.")
	}
	if exp := r.GetSession().GetExpiresAt(fosite.AccessToken); !exp.IsZero() && !s.p.now().Before(exp) {
		return fosite.ErrTokenExpired.WithHintf("The access token expired at %s.", exp.Format(time.RFC3339))
	}
	return nil
}
