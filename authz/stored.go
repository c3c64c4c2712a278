package authz

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/atrium-id/atrium/storage"
)

// The grant state stored with each code and token is a compact JSON
// document: what fosite needs to resume the request, without zero values,
// and with the ID token claims only where an ID token can still be issued
// from it. The request ID and client ID live in the storage.Token itself.
// A spent token keeps no document at all (the store drops it): reuse
// detection needs only the request ID.

// storedRequest is a fosite request at rest.
type storedRequest struct {
	RequestedAt int64 `json:"t,omitempty"` // s since the epoch
	// RequestedScope is absent when it equals GrantedScope, as it mostly does.
	RequestedScope *[]string      `json:"rs,omitempty"`
	GrantedScope   []string       `json:"gs,omitempty"`
	RequestedAud   []string       `json:"ra,omitempty"`
	GrantedAud     []string       `json:"ga,omitempty"`
	Form           url.Values     `json:"f,omitempty"`
	Session        *storedSession `json:"s,omitempty"`
	// JKT is the thumbprint of the DPoP key an access or refresh token is
	// bound to (dpop.go); it is read back into the form under formJKT.
	JKT string `json:"jkt,omitempty"`
	// Act and Origin are an exchanged access token's (tokenexchange.go):
	// its act claim (JSON) and the signatures of the access tokens it
	// descends from, read back under formAct and formOrigin.
	Act    string `json:"act,omitempty"`
	Origin string `json:"o,omitempty"`
}

// storedSession is an openid.DefaultSession at rest.
type storedSession struct {
	// Subject is absent when it is the storage.Token's, as it always is
	// for what the provider stores.
	Subject  string           `json:"sub,omitempty"`
	Username string           `json:"un,omitempty"`
	Expires  map[string]int64 `json:"exp,omitempty"` // by token type, µs
	Claims   *storedClaims    `json:"c,omitempty"`
	Headers  map[string]any   `json:"h,omitempty"`
}

// storedClaims are the ID token claims fixed at sign-in; iss, aud, exp,
// iat, jti and the hashes are set when an ID token is made.
type storedClaims struct {
	Nonce       string `json:"n,omitempty"`
	AuthTime    int64  `json:"at,omitempty"`  // s, as in the ID token
	RequestedAt int64  `json:"rat,omitempty"` // s
	// Extra holds the other claims but sid, which is the storage.Token's
	// SessionID.
	ACR   string         `json:"acr,omitempty"`
	AMR   []string       `json:"amr,omitempty"`
	Extra map[string]any `json:"x,omitempty"`
}

// storedForm lists the request parameters fosite reads back from stored
// state (redirect URI checks, PKCE, max_age, prompt, nonce, ...). Nothing
// else is kept: no secrets, no codes, no tokens.
var storedForm = []string{
	"redirect_uri", "response_type", "grant_type", "scope", "audience", "nonce", "max_age", "prompt",
	"acr_values", "id_token_hint", "code_challenge", "code_challenge_method", "claims", "dpop_jkt",
}

// withClaims reports whether state of kind can still issue an ID token and
// so must keep the ID token claims: codes (and the OpenID state keyed by
// them) and refresh tokens. Access tokens and PKCE state need none.
func withClaims(kind storage.TokenKind) bool {
	return kind == storage.KindAuthorizeCode || kind == storage.KindOpenID || kind == storage.KindRefreshToken
}

// keepsExpiry reports whether state of kind needs the expiry of token
// type typ: a token its own (and a refresh token its access token's);
// codes and the state keyed by them every one, as fosite sets the tokens'
// from them.
func keepsExpiry(kind storage.TokenKind, typ fosite.TokenType) bool {
	switch kind {
	case storage.KindAccessToken:
		return typ == fosite.AccessToken
	case storage.KindRefreshToken:
		return typ == fosite.RefreshToken || typ == fosite.AccessToken
	}
	return true
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(v, 0).UTC()
}

// encodeRequest serializes r for state of kind.
func encodeRequest(kind storage.TokenKind, r fosite.Requester) ([]byte, error) {
	sr := storedRequest{
		RequestedAt:  unix(r.GetRequestedAt()),
		GrantedScope: r.GetGrantedScopes(),
		RequestedAud: r.GetRequestedAudience(),
		GrantedAud:   r.GetGrantedAudience(),
	}
	if rs := []string(r.GetRequestedScopes()); !slices.Equal(rs, sr.GrantedScope) {
		if rs == nil {
			rs = []string{}
		}
		sr.RequestedScope = &rs
	}
	token := kind == storage.KindAccessToken || kind == storage.KindRefreshToken
	switch kind {
	case storage.KindAccessToken:
		sr.JKT = r.GetRequestForm().Get(formJKT)
		sr.Act, sr.Origin = r.GetRequestForm().Get(formAct), r.GetRequestForm().Get(formOrigin)
	case storage.KindRefreshToken:
		sr.JKT = r.GetRequestForm().Get(formRefreshJKT)
	}
	for _, k := range storedForm {
		if token {
			break // fosite reads the form of codes and PKCE state only
		}
		if v, ok := r.GetRequestForm()[k]; ok && len(v) > 0 && v[0] != "" {
			if sr.Form == nil {
				sr.Form = url.Values{}
			}
			sr.Form[k] = v
		}
	}
	switch s := r.GetSession().(type) {
	case nil:
	case *openid.DefaultSession:
		ss := &storedSession{Subject: s.Subject, Username: s.Username}
		for typ, t := range s.ExpiresAt {
			if !t.IsZero() && keepsExpiry(kind, typ) {
				if ss.Expires == nil {
					ss.Expires = map[string]int64{}
				}
				ss.Expires[string(typ)] = storage.UnixMicro(t)
			}
		}
		if c := s.Claims; c != nil && withClaims(kind) {
			ss.Claims = &storedClaims{
				Nonce: c.Nonce, AuthTime: unix(c.AuthTime), RequestedAt: unix(c.RequestedAt),
				ACR: c.AuthenticationContextClassReference, AMR: c.AuthenticationMethodsReferences,
				Extra: c.Extra,
			}
			if ss.Subject == "" {
				ss.Subject = c.Subject
			}
			if _, ok := c.Extra["sid"]; ok {
				x := make(map[string]any, len(c.Extra))
				for k, v := range c.Extra {
					if k != "sid" {
						x[k] = v
					}
				}
				ss.Claims.Extra = x
			}
		}
		if s.Headers != nil && len(s.Headers.Extra) > 0 {
			ss.Headers = s.Headers.Extra
		}
		if ss.Subject == s.Subject {
			ss.Subject = "" // create stores it as the token's Subject
		}
		sr.Session = ss
	default:
		return nil, fmt.Errorf("cannot store a session of type %T", s)
	}
	return json.Marshal(sr)
}

// decodeRequest restores a request stored by encodeRequest into session.
// Spent state has no document: the request then carries only its ID and
// client, which is all reuse detection needs.
func decodeRequest(t *storage.Token, client fosite.Client, session fosite.Session) (*fosite.Request, error) {
	req := &fosite.Request{ID: t.RequestID, Client: client, Form: url.Values{}, Session: session}
	if len(t.Data) == 0 {
		return req, nil
	}
	var sr storedRequest
	if err := json.Unmarshal(t.Data, &sr); err != nil {
		return nil, fmt.Errorf("decode stored request: %w", err)
	}
	req.RequestedAt = fromUnix(sr.RequestedAt)
	req.RequestedScope, req.GrantedScope = sr.GrantedScope, sr.GrantedScope
	if sr.RequestedScope != nil {
		req.RequestedScope = *sr.RequestedScope
	}
	req.RequestedAudience, req.GrantedAudience = sr.RequestedAud, sr.GrantedAud
	if sr.Form != nil {
		req.Form = sr.Form
	}
	if sr.JKT != "" {
		req.Form.Set(formJKT, sr.JKT)
	}
	if sr.Act != "" {
		req.Form.Set(formAct, sr.Act)
	}
	if sr.Origin != "" {
		req.Form.Set(formOrigin, sr.Origin)
	}
	ds, ok := session.(*openid.DefaultSession)
	if session == nil || sr.Session == nil {
		return req, nil
	}
	if !ok {
		return nil, fmt.Errorf("cannot restore a session into %T", session)
	}
	// Merge, as fosite restores several records (code, PKCE, OpenID) into
	// one session and sets expiries on it in between.
	ss := sr.Session
	sub := ss.Subject
	if sub == "" {
		sub = t.Subject
	}
	if sub == "" {
		sub = t.ClientID // a client_credentials grant: the client's own
	}
	ds.Subject, ds.Username = sub, ss.Username
	if len(ss.Expires) > 0 && ds.ExpiresAt == nil {
		ds.ExpiresAt = make(map[fosite.TokenType]time.Time, len(ss.Expires))
	}
	for typ, v := range ss.Expires {
		ds.ExpiresAt[fosite.TokenType(typ)] = storage.FromUnixMicro(v)
	}
	if ds.Claims == nil {
		ds.Claims = &jwt.IDTokenClaims{}
	}
	ds.Claims.Subject = sub
	if c := ss.Claims; c != nil {
		ds.Claims.Nonce = c.Nonce
		ds.Claims.AuthTime, ds.Claims.RequestedAt = fromUnix(c.AuthTime), fromUnix(c.RequestedAt)
		ds.Claims.AuthenticationContextClassReference = c.ACR
		ds.Claims.AuthenticationMethodsReferences = c.AMR
		ds.Claims.Extra = c.Extra
		if t.SessionID != "" {
			if ds.Claims.Extra == nil {
				ds.Claims.Extra = map[string]any{}
			}
			ds.Claims.Extra["sid"] = t.SessionID
		}
	}
	if ds.Headers == nil {
		ds.Headers = &jwt.Headers{}
	}
	for k, v := range ss.Headers {
		if ds.Headers.Extra == nil {
			ds.Headers.Extra = map[string]any{}
		}
		ds.Headers.Extra[k] = v
	}
	return req, nil
}
