package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"
)

// Request objects (RFC 9101, OpenID Connect Core §6.1): the request
// parameter of /authorize or /par is a JWT signed by the client with a key
// of its registered key set (jwks or jwks_uri), with the algorithm it
// registered as request_object_signing_alg or else any of
// requestObjectAlgs; unsigned ("none") and encrypted request objects are
// refused. Its iss is the client ID, its aud names the issuer, its exp (if
// any) is in the future and its nbf (if any) past. Its claims are the
// request's parameters and take precedence over the query's. A request_uri
// naming a request object elsewhere is not supported (par.go takes only its
// own).

// requestObjectAlgs are the algorithms request objects may be signed with.
var requestObjectAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// requestObjectAlgNames are requestObjectAlgs, for discovery.
var requestObjectAlgNames = []string{string(jose.RS256), string(jose.ES256), string(jose.EdDSA)}

// requestObjectLeeway is the clock skew allowed for exp and nbf.
const requestObjectLeeway = 30 * time.Second

// requestObjectJWTClaims are the claims of a request object that are not request
// parameters.
var requestObjectJWTClaims = []string{"iss", "aud", "exp", "nbf", "iat", "jti"}

// applyRequestObject verifies the request object raw of the client named by
// form's client_id and sets form's parameters from its claims.
func (p *Provider) applyRequestObject(ctx context.Context, form url.Values, raw string) error {
	clientID := form.Get("client_id")
	if clientID == "" {
		return fosite.ErrInvalidRequest.WithHint("client_id is required with a request object.")
	}
	fc, err := p.store.GetClient(ctx, clientID)
	if err != nil {
		// fosite reports the unknown client.
		return fosite.ErrInvalidClient.WithHint("The requested client does not exist.").WithWrap(err)
	}
	cl, ok := fc.(*client)
	if !ok {
		return fosite.ErrServerError.WithDebug("client of an unexpected type")
	}
	bad := func(hint string, err error) error {
		e := fosite.ErrInvalidRequestObject.WithHint(hint)
		if err != nil {
			e = e.WithWrap(err).WithDebug(err.Error())
		}
		return e
	}
	algs := requestObjectAlgs
	if a := jose.SignatureAlgorithm(cl.c.RequestObjectSigningAlg); a != "" {
		if !slices.Contains(requestObjectAlgs, a) {
			return bad("The client's request_object_signing_alg is not supported.", nil)
		}
		algs = []jose.SignatureAlgorithm{a}
	}
	jws, err := jose.ParseSigned(raw, algs)
	if err != nil {
		return bad("The request object must be a JWT signed with "+algNames(algs)+".", err)
	}
	if len(jws.Signatures) != 1 {
		return bad("The request object must carry exactly one signature.", nil)
	}
	keys, err := p.clientKeys(ctx, cl, jws.Signatures[0].Header.KeyID)
	if err != nil {
		return bad("The client's keys could not be read.", err)
	}
	var payload []byte
	for _, k := range keys {
		if payload, err = jws.Verify(k); err == nil {
			break
		}
	}
	if payload == nil {
		return bad("The request object is not signed by a key of the client.", nil)
	}
	var claims map[string]any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return bad("The request object's claims are not a JSON object.", err)
	}
	if iss, _ := claims["iss"].(string); iss != clientID {
		return bad("The request object's iss must be the client ID.", nil)
	}
	if !audienceHas(claims["aud"], p.cfg.Issuer) {
		return bad("The request object's aud must name the issuer.", nil)
	}
	if id, ok := claims["client_id"]; ok && id != clientID {
		return bad("The request object's client_id is not the request's.", nil)
	}
	now := p.now()
	if exp, ok := claims["exp"]; ok {
		t, ok := numericDate(exp)
		if !ok || !now.Before(t.Add(requestObjectLeeway)) {
			return bad("The request object has expired.", nil)
		}
	}
	if nbf, ok := claims["nbf"]; ok {
		t, ok := numericDate(nbf)
		if !ok || now.Add(requestObjectLeeway).Before(t) {
			return bad("The request object is not valid yet.", nil)
		}
	}
	params := url.Values{}
	for k, v := range claims {
		switch {
		case slices.Contains(requestObjectJWTClaims, k):
			continue
		case k == "request" || k == "request_uri":
			return bad("A request object cannot carry request or request_uri.", nil)
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
				return bad("The request object's claims could not be read.", err)
			}
			params.Set(k, string(b))
		}
	}
	for k, v := range params {
		form[k] = v
	}
	return nil
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
