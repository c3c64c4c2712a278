package authz

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/atrium-id/atrium/internal/config"
)

// Request objects (RFC 9101, OpenID Connect Core §6.1): the request
// parameter of /authorize or /par is a JWT signed by the client with a key
// of its registered key set (jwks or jwks_uri), with the algorithm it
// registered as request_object_signing_alg or else any of
// requestObjectAlgs; unsigned ("none") and encrypted request objects are
// refused. Its iss is the client ID, its aud names the issuer, its exp (if
// any) is in the future and its nbf (if any) past. Its claims are the
// request's parameters and take precedence over the query's. A request
// object may also be unsigned (alg none, OpenID Connect Core §6.1) when the
// client registered no signing algorithm (or none): it then counts for no
// more than the query's parameters, and needs no iss or aud. A request
// object published by the client is fetched from its request_uri
// (requesturi.go).

// requestObjectAlgs are the algorithms request objects may be signed with.
var requestObjectAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// requestObjectLeeway is the clock skew allowed for exp and nbf.
const requestObjectLeeway = 30 * time.Second

// requestObjectJWTClaims are the claims of a request object that are not request
// parameters.
var requestObjectJWTClaims = []string{"iss", "aud", "exp", "nbf", "iat", "jti"}

// applyRequestObject verifies the request object raw of the client named by
// form's client_id and sets form's parameters from its claims.
func (p *Provider) applyRequestObject(ctx context.Context, form url.Values, raw string) error {
	clientID := form.Get("client_id")
	cl, err := p.requestClient(ctx, clientID, "a request object")
	if err != nil {
		return err
	}
	payload, signed, err := p.requestObjectPayload(ctx, cl, raw)
	if err != nil {
		return err
	}
	var claims map[string]any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return badRequestObject("The request object's claims are not a JSON object.", err)
	}
	// An unsigned request object proves nothing: iss and aud may be
	// left out, but may not be wrong.
	if iss, ok := claims["iss"]; (ok || signed) && iss != clientID {
		return badRequestObject("The request object's iss must be the client ID.", nil)
	}
	if aud, ok := claims["aud"]; (ok || signed) && !audienceHas(aud, p.cfg.Issuer) {
		return badRequestObject("The request object's aud must name the issuer.", nil)
	}
	if id, ok := claims["client_id"]; ok && id != clientID {
		return badRequestObject("The request object's client_id is not the request's.", nil)
	}
	now := p.now()
	if exp, ok := claims["exp"]; ok {
		t, ok := numericDate(exp)
		if !ok || !now.Before(t.Add(requestObjectLeeway)) {
			return badRequestObject("The request object has expired.", nil)
		}
	}
	if nbf, ok := claims["nbf"]; ok {
		t, ok := numericDate(nbf)
		if !ok || now.Add(requestObjectLeeway).Before(t) {
			return badRequestObject("The request object is not valid yet.", nil)
		}
	}
	params := url.Values{}
	for k, v := range claims {
		switch {
		case slices.Contains(requestObjectJWTClaims, k):
			continue
		case k == "request" || k == "request_uri":
			return badRequestObject("A request object cannot carry request or request_uri.", nil)
		}
		switch v := v.(type) {
		case nil:
		case string:
			params.Set(k, v)
		case json.Number:
			params.Set(k, v.String())
		default:
			// claims (an object), booleans, arrays: as JSON.
			b, err := json.Marshal(v)
			if err != nil {
				return badRequestObject("The request object's claims could not be read.", err)
			}
			params.Set(k, string(b))
		}
	}
	for k, v := range params {
		form[k] = v
	}
	return nil
}

// badRequestObject is the invalid_request_object error with hint, wrapping
// err if any.
func badRequestObject(hint string, err error) error {
	e := fosite.ErrInvalidRequestObject.WithHint(hint)
	if err != nil {
		e = e.WithWrap(err).WithDebug(err.Error())
	}
	return e
}

// requestObjectPayload returns the claims of the request object raw of
// cl: verified with cl's keys, or, when raw is unsigned (alg none) and cl
// did not register a signing algorithm, as they are (signed false).
func (p *Provider) requestObjectPayload(ctx context.Context, cl *client, raw string) (payload []byte, signed bool, err error) {
	registered := cl.c.RequestObjectSigningAlg
	if payload, ok, err := unsignedJWT(raw); ok {
		switch {
		case err != nil:
			return nil, false, badRequestObject("The unsigned request object is malformed.", err)
		case registered != "" && registered != config.RequestObjectNone:
			return nil, false, badRequestObject("The client's request objects must be signed with "+registered+".", nil)
		}
		return payload, false, nil
	}
	algs := requestObjectAlgs
	switch a := jose.SignatureAlgorithm(registered); {
	case registered == config.RequestObjectNone:
		return nil, false, badRequestObject("The client's request objects are unsigned (request_object_signing_alg none).", nil)
	case a == "":
	case !slices.Contains(requestObjectAlgs, a):
		return nil, false, badRequestObject("The client's request_object_signing_alg is not supported.", nil)
	default:
		algs = []jose.SignatureAlgorithm{a}
	}
	jws, err := jose.ParseSigned(raw, algs)
	if err != nil {
		return nil, false, badRequestObject("The request object must be a JWT signed with "+algNames(algs)+", or unsigned.", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, false, badRequestObject("The request object must carry exactly one signature.", nil)
	}
	keys, err := p.clientKeys(ctx, cl, jws.Signatures[0].Header.KeyID)
	if err != nil {
		return nil, false, badRequestObject("The client's keys could not be read.", err)
	}
	for _, k := range keys {
		if payload, err = jws.Verify(k); err == nil {
			return payload, true, nil
		}
	}
	return nil, false, badRequestObject("The request object is not signed by a key of the client.", nil)
}

// unsignedJWT reports whether raw is a JWT with alg none (ok) and returns
// its payload; err says what is wrong with one that is.
func unsignedJWT(raw string) (payload []byte, ok bool, err error) {
	head, rest, found := strings.Cut(raw, ".")
	if !found {
		return nil, false, nil
	}
	h, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return nil, false, nil
	}
	var header struct {
		Alg *string `json:"alg"`
	}
	if json.Unmarshal(h, &header) != nil || header.Alg == nil || *header.Alg != "none" {
		return nil, false, nil
	}
	body, sig, found := strings.Cut(rest, ".")
	switch {
	case !found || strings.Contains(sig, "."):
		return nil, true, errors.New("an unsigned JWT has three parts")
	case sig != "":
		return nil, true, errors.New("an unsigned JWT has an empty signature")
	}
	if payload, err = base64.RawURLEncoding.DecodeString(body); err != nil {
		return nil, true, fmt.Errorf("its payload is not base64url: %w", err)
	}
	return payload, true, nil
}

// clientKeys are the public keys of the client that may have signed a JWS
// with the key ID kid ("" for any): its registered jwks, or those published
// at its jwks_uri, fetched again when none has that ID.
func (p *Provider) clientKeys(ctx context.Context, cl *client, kid string) ([]any, error) {
	set := cl.jwks
	if set == nil && cl.c.JWKSURI != "" {
		var err error
		if set, err = p.jwks.keysOf(ctx, cl, false); err == nil && kid != "" && len(set.Key(kid)) == 0 {
			set, err = p.jwks.keysOf(ctx, cl, true)
		}
		if err != nil {
			return nil, err
		}
	}
	if set == nil {
		return nil, errors.New("the client has no jwks nor jwks_uri")
	}
	var keys []any
	for _, k := range set.Keys {
		if (kid != "" && k.KeyID != kid) || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if !k.IsPublic() {
			k = k.Public()
		}
		if k.Valid() {
			keys = append(keys, k.Key)
		}
	}
	return keys, nil
}

// audienceHas reports whether a JWT aud claim (a string or an array of
// strings) names want.
func audienceHas(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, v := range a {
			if v == want {
				return true
			}
		}
	}
	return false
}

// numericDate reads a JWT NumericDate.
func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

func algNames(algs []jose.SignatureAlgorithm) string {
	names := make([]string, len(algs))
	for i, a := range algs {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}
