package authz

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/atrium-id/atrium/storage"
)

// DPoP (RFC 9449) binds access tokens, and public clients' refresh tokens,
// to a key the client holds: each request carries a proof, a JWT signed
// by that key over the request's method and URL.
//
// At the token endpoint a valid proof binds what is issued to the SHA-256
// thumbprint of its key (RFC 7638, cnf.jkt): the access token always, the
// refresh token of a public client, whose later refreshes must then prove
// the same key. A code authorized with dpop_jkt can only be exchanged
// with that key's proof. A client registered with dpop_bound_access_tokens
// must send a proof with every token request. The binding is stored with
// the token (storedRequest.JKT) and read back into the request's form
// under formJKT, which a client cannot set: the token endpoint overwrites
// it. Resources (userinfo, the account API) take a bound token only as
// "Authorization: DPoP" with a proof of its key carrying ath, the digest
// of the token.
//
// Proofs are single-use: the digest of jti and the key's thumbprint is
// recorded with TokenStore.UseOnce until the proof's iat window ends.
// With DPoP.RequireNonce every proof must carry a nonce the provider
// handed out (DPoP-Nonce header). Nonces are stateless: an HMAC of a time
// bucket under a key derived from the provider's secret, valid for the
// current and the previous bucket, so every node accepts every node's.

// DPoP configures DPoP (RFC 9449).
type DPoP struct {
	// RequireNonce makes every proof carry a nonce the provider issued
	// (RFC 9449 §8 and §9); a proof without the current one is answered
	// use_dpop_nonce with a fresh nonce in the DPoP-Nonce header.
	RequireNonce bool
}

// dpopAlgs are the proof signature algorithms accepted, as advertised in
// dpop_signing_alg_values_supported: asymmetric only.
var dpopAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}

func dpopAlgNames() []string {
	names := make([]string, len(dpopAlgs))
	for i, a := range dpopAlgs {
		names[i] = string(a)
	}
	return names
}

const (
	// dpopMaxAge and dpopMaxSkew bound a proof's iat: at most this old,
	// at most this far ahead of the provider's clock.
	dpopMaxAge  = 60 * time.Second
	dpopMaxSkew = 5 * time.Second
	// dpopNonceBucket is how long a nonce is current; one stays accepted
	// for one more bucket.
	dpopNonceBucket = 3 * time.Minute
	// dpopMaxProof bounds the DPoP header; proofs are small.
	dpopMaxProof = 8 << 10
)

// formJKT is the form key under which a token read back from storage
// carries the key thumbprint it is bound to, and an access token about to
// be stored too; formRefreshJKT that of a refresh token about to be
// stored (public clients only). Only these requests' forms hold them:
// the form a client sent is never stored with a token.
const (
	formJKT        = "\x00cnf.jkt"
	formRefreshJKT = "\x00cnf.jkt.rt"
)

// paramDPoPJKT is the authorization request parameter that binds the code
// to a DPoP key (RFC 9449 §10); the code keeps it in its stored form.
const paramDPoPJKT = "dpop_jkt"

// dpopError is a refused proof: invalid_dpop_proof or use_dpop_nonce
// (RFC 9449 §5, §7.1, §8), or invalid_token at a resource.
type dpopError struct {
	code, desc string
}

func (e *dpopError) Error() string { return e.code + ": " + e.desc }

func badProof(format string, args ...any) *dpopError {
	return &dpopError{code: "invalid_dpop_proof", desc: fmt.Sprintf(format, args...)}
}

// dpopProof is a proof checked but for its single use (spend).
type dpopProof struct {
	jkt      string // base64url SHA-256 thumbprint of the key
	jti      string
	iat      time.Time
	hasNonce bool // carries a current nonce
}

type dpopClaims struct {
	JTI   string          `json:"jti"`
	HTM   string          `json:"htm"`
	HTU   string          `json:"htu"`
	IAT   json.RawMessage `json:"iat"`
	ATH   string          `json:"ath"`
	Nonce *string         `json:"nonce"`
}

// readDPoP checks the request's DPoP proof (RFC 9449 §4.3) for the
// provider URL of the request's path. It returns nil, nil when the request
// has none. accessToken is the token a resource request presents: the
// proof must then carry its digest (ath). The nonce is checked when
// nonces are required; use spend to use up the proof's jti.
func (p *Provider) readDPoP(r *http.Request, accessToken string) (*dpopProof, *dpopError) {
	values := r.Header.Values("DPoP")
	switch {
	case len(values) == 0:
		return nil, nil
	case len(values) > 1:
		return nil, badProof("Send exactly one DPoP header.")
	case len(values[0]) > dpopMaxProof:
		return nil, badProof("The DPoP proof is too large.")
	}
	jws, err := jose.ParseSignedCompact(values[0], dpopAlgs)
	if err != nil {
		if msg := err.Error(); strings.Contains(msg, "must be public") || strings.Contains(msg, "private parameters") {
			return nil, badProof("The DPoP proof's jwk must be a public key.")
		}
		return nil, badProof("The DPoP proof is not a JWT signed with one of %s.", strings.Join(dpopAlgNames(), ", "))
	}
	if len(jws.Signatures) != 1 {
		return nil, badProof("The DPoP proof must have exactly one signature.")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return nil, badProof("The DPoP proof's typ must be dpop+jwt.")
	}
	key := h.JSONWebKey
	if key == nil || !key.Valid() || !key.IsPublic() {
		return nil, badProof("The DPoP proof's jwk must be a public key.")
	}
	if _, symmetric := key.Key.([]byte); symmetric {
		return nil, badProof("The DPoP proof's jwk must be a public key.")
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, badProof("The DPoP proof's signature does not verify with its jwk.")
	}
	var c dpopClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, badProof("The DPoP proof's claims are not a JSON object.")
	}
	var iat float64
	if err := json.Unmarshal(c.IAT, &iat); err != nil {
		return nil, badProof("The DPoP proof's iat must be a number.")
	}
	switch {
	case c.JTI == "" || len(c.JTI) > 256:
		return nil, badProof("The DPoP proof needs a jti.")
	case c.HTM != r.Method:
		return nil, badProof("The DPoP proof's htm is not this request's method.")
	case !sameHTU(c.HTU, p.url(r.URL.Path)):
		return nil, badProof("The DPoP proof's htu is not this request's URL.")
	}
	issued := time.Unix(int64(iat), 0)
	now := p.now()
	if issued.Before(now.Add(-dpopMaxAge)) {
		return nil, badProof("The DPoP proof is too old (iat).")
	}
	if issued.After(now.Add(dpopMaxSkew)) {
		return nil, badProof("The DPoP proof is issued in the future (iat).")
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		want := base64.RawURLEncoding.EncodeToString(sum[:])
		if c.ATH == "" {
			return nil, badProof("The DPoP proof needs ath, the hash of the access token.")
		}
		if subtle.ConstantTimeCompare([]byte(c.ATH), []byte(want)) != 1 {
			return nil, badProof("The DPoP proof's ath is not the hash of this access token.")
		}
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, badProof("The DPoP proof's jwk has no thumbprint.")
	}
	proof := &dpopProof{jkt: base64.RawURLEncoding.EncodeToString(tp), jti: c.JTI, iat: issued}
	if c.Nonce != nil {
		proof.hasNonce = p.validNonce(*c.Nonce)
	}
	if p.cfg.DPoP.RequireNonce && !proof.hasNonce {
		desc := "The DPoP proof must carry the nonce in the DPoP-Nonce header."
		if c.Nonce != nil {
			desc = "The DPoP proof's nonce is stale; use the one in the DPoP-Nonce header."
		}
		return nil, &dpopError{code: "use_dpop_nonce", desc: desc}
	}
	return proof, nil
}

// spend uses the proof up: a second request with it is refused.
func (p *Provider) spend(ctx context.Context, proof *dpopProof) error {
	sum := sha256.Sum256([]byte(proof.jkt + "\x00" + proof.jti))
	key := "dpop:" + base64.RawURLEncoding.EncodeToString(sum[:])
	err := p.stores.Tokens.UseOnce(ctx, key, proof.iat.Add(dpopMaxAge+dpopMaxSkew))
	if errors.Is(err, storage.ErrAlreadyExists) {
		return badProof("The DPoP proof was already used (jti).")
	}
	return err
}

// sameHTU reports whether the htu claim names want, ignoring its query
// and fragment (RFC 9449 §4.3), scheme and host case and a default port.
func sameHTU(htu, want string) bool {
	norm := func(s string) (string, bool) {
		u, err := url.Parse(s)
		if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil {
			return "", false
		}
		scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
		host = strings.TrimSuffix(host, map[string]string{"https": ":443", "http": ":80"}[scheme])
		path := u.EscapedPath()
		if path == "" {
			path = "/"
		}
		return scheme + "://" + host + path, true
	}
	a, ok := norm(htu)
	b, _ := norm(want)
	return ok && a == b
}

// dpopNonceKey keys the nonces; derived from the provider's secret as the
// remembered-device key is.
func (p *Provider) dpopNonceKey() []byte {
	mac := hmac.New(sha256.New, p.cfg.Secret)
	mac.Write([]byte("atrium dpop nonce"))
	return mac.Sum(nil)
}

func (p *Provider) nonceFor(bucket int64) string {
	mac := hmac.New(sha256.New, p.dpopNonceKey())
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(bucket))
	mac.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

func (p *Provider) nonceBucket() int64 { return p.now().Unix() / int64(dpopNonceBucket/time.Second) }

// dpopNonce is the current nonce.
func (p *Provider) dpopNonce() string { return p.nonceFor(p.nonceBucket()) }

// validNonce reports whether nonce is the current or the previous bucket's.
func (p *Provider) validNonce(nonce string) bool {
	b := p.nonceBucket()
	cur := subtle.ConstantTimeCompare([]byte(nonce), []byte(p.nonceFor(b)))
	prev := subtle.ConstantTimeCompare([]byte(nonce), []byte(p.nonceFor(b-1)))
	return cur|prev == 1
}

// setDPoPNonce sends a fresh nonce on the answer to a DPoP request when
// nonces are required.
func (p *Provider) setDPoPNonce(w http.ResponseWriter, r *http.Request) {
	if p.cfg.DPoP.RequireNonce && len(r.Header.Values("DPoP")) > 0 {
		w.Header().Set("DPoP-Nonce", p.dpopNonce())
		w.Header().Add("Access-Control-Expose-Headers", "DPoP-Nonce")
	}
}

// tokenDPoPError is a refused proof at the token endpoint (400).
func tokenDPoPError(e *dpopError) error {
	return &fosite.RFC6749Error{ErrorField: e.code, DescriptionField: e.desc, CodeField: http.StatusBadRequest}
}

// bindDPoP checks a token request's proof against what the grant is bound
// to and records the binding of the tokens about to be issued in the
// request's form (stored with them by encodeRequest). It spends the proof.
// It runs after fosite has read the grant and before anything is issued,
// so a refusal spends no code or refresh token.
func (p *Provider) bindDPoP(ctx context.Context, ar fosite.AccessRequester, proof *dpopProof) error {
	err := p.bindProof(ctx, ar, proof)
	if de := (*dpopError)(nil); errors.As(err, &de) {
		return tokenDPoPError(de)
	}
	return err
}

func (p *Provider) bindProof(ctx context.Context, ar fosite.AccessRequester, proof *dpopProof) error {
	m := memoOf(ctx)
	cl, _ := ar.GetClient().(*client)
	if proof == nil {
		if cl != nil && cl.c.DPoPBoundAccessTokens {
			return badProof("This client must send a DPoP proof with its token requests.")
		}
	}
	var bound string // the key the grant is bound to
	switch {
	case ar.GetGrantTypes().ExactOne("authorization_code"):
		bound = m.codeJKT
	case ar.GetGrantTypes().ExactOne("refresh_token"):
		bound = m.refreshJKT
	}
	if bound != "" && proof == nil {
		return badProof("This grant is bound to a DPoP key: send a DPoP proof made with it.")
	}
	if proof == nil {
		return nil
	}
	if bound != "" && subtle.ConstantTimeCompare([]byte(bound), []byte(proof.jkt)) != 1 {
		return badProof("The DPoP proof's key is not the one this grant is bound to.")
	}
	if err := p.spend(ctx, proof); err != nil {
		return err
	}
	m.bindAccess = proof.jkt
	if ar.GetClient().IsPublic() {
		m.bindRefresh = proof.jkt
	}
	return nil
}

// markDPoP records in the form of a token about to be stored the key it
// is bound to, for encodeRequest; fosite hands the store a copy of the
// request with only the form parameters it chose.
func (m *requestMemo) markDPoP(kind storage.TokenKind, r fosite.Requester) {
	if m == nil || (kind != storage.KindAccessToken && kind != storage.KindRefreshToken) {
		return
	}
	form := r.GetRequestForm()
	form.Del(formJKT)
	form.Del(formRefreshJKT)
	switch {
	case kind == storage.KindAccessToken && m.bindAccess != "":
		form.Set(formJKT, m.bindAccess)
	case kind == storage.KindRefreshToken && m.bindRefresh != "":
		form.Set(formRefreshJKT, m.bindRefresh)
	}
}

// parDPoP binds a pushed authorization request sent with a DPoP proof to
// the proof's key (RFC 9449 §10.1): its thumbprint becomes the request's
// dpop_jkt, which must agree with one sent. It spends the proof.
func (p *Provider) parDPoP(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	p.setDPoPNonce(w, r)
	proof, derr := p.readDPoP(r, "")
	if derr != nil {
		return tokenDPoPError(derr)
	}
	if proof == nil {
		return nil
	}
	if jkt := r.Form.Get(paramDPoPJKT); jkt != "" && jkt != proof.jkt {
		return tokenDPoPError(badProof("dpop_jkt is not the thumbprint of the DPoP proof's key."))
	}
	err := p.spend(ctx, proof)
	if de := (*dpopError)(nil); errors.As(err, &de) {
		return tokenDPoPError(de)
	}
	if err != nil {
		return err
	}
	r.Form.Set(paramDPoPJKT, proof.jkt)
	return nil
}

// resourceToken returns the access token of a resource request and its
// scheme: "DPoP" for an Authorization: DPoP header, else "Bearer" with
// the token fosite finds (RFC 6750: the header or the form body).
func resourceToken(r *http.Request) (token, scheme string) {
	if s, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(s, "DPoP") {
		return strings.TrimSpace(t), "DPoP"
	}
	return fosite.AccessTokenFromRequest(r), "Bearer"
}

// checkResourceDPoP checks a resource request against the binding of its
// access token (ar, as introspected): a bound token needs the DPoP scheme
// and a proof of its key with ath; an unbound one the Bearer scheme. It
// spends the proof.
func (p *Provider) checkResourceDPoP(r *http.Request, token, scheme string, ar fosite.Requester) *dpopError {
	jkt := ar.GetRequestForm().Get(formJKT)
	if scheme != "DPoP" {
		if jkt != "" {
			return &dpopError{code: "invalid_token", desc: "This access token is DPoP-bound: send it as Authorization: DPoP with a proof."}
		}
		return nil
	}
	if jkt == "" {
		return &dpopError{code: "invalid_token", desc: "This access token is not DPoP-bound: send it as a Bearer token."}
	}
	proof, derr := p.readDPoP(r, token)
	if derr != nil {
		return derr
	}
	if proof == nil {
		return badProof("A DPoP proof is required with a DPoP access token.")
	}
	if subtle.ConstantTimeCompare([]byte(jkt), []byte(proof.jkt)) != 1 {
		return badProof("The DPoP proof's key is not the one the access token is bound to.")
	}
	if err := p.spend(r.Context(), proof); err != nil {
		var de *dpopError
		if errors.As(err, &de) {
			return de
		}
		return &dpopError{code: "server_error", desc: err.Error()}
	}
	return nil
}

// writeDPoPChallenge answers a resource request refused for its DPoP
// proof or binding: 401 with a DPoP challenge (RFC 9449 §7.1) and, for
// use_dpop_nonce, a fresh nonce.
func (p *Provider) writeDPoPChallenge(w http.ResponseWriter, r *http.Request, e *dpopError) {
	maps.Copy(w.Header(), p.dpopChallenge(e))
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": e.code, "error_description": e.desc})
}

// dpopChallenge is the headers of a 401 refusing a DPoP-bound token's
// request (RFC 9449 §7.1): the DPoP challenge and, when a nonce is
// wanted, a fresh one.
func (p *Provider) dpopChallenge(e *dpopError) http.Header {
	h := http.Header{}
	if e.code == "use_dpop_nonce" || p.cfg.DPoP.RequireNonce {
		h.Set("DPoP-Nonce", p.dpopNonce())
		h.Set("Access-Control-Expose-Headers", "DPoP-Nonce, WWW-Authenticate")
	}
	h.Set("WWW-Authenticate", `DPoP algs="`+strings.Join(dpopAlgNames(), " ")+`", error="`+e.code+`", error_description="`+e.desc+`"`)
	return h
}

// introspectionDPoP adds the token type and, for a bound access token,
// cnf (RFC 9449 §6.2) to an introspection answer.
func introspectionDPoP(ir fosite.IntrospectionResponder) {
	resp, ok := ir.(*fosite.IntrospectionResponse)
	if !ok || !resp.Active || resp.TokenUse != fosite.AccessToken || resp.AccessRequester == nil {
		return
	}
	extra := map[string]any{"token_type": "Bearer"}
	if jkt := resp.AccessRequester.GetRequestForm().Get(formJKT); jkt != "" {
		extra = map[string]any{"token_type": "DPoP", "cnf": map[string]string{"jkt": jkt}}
	}
	resp.AccessRequester.SetSession(extraClaimsSession{Session: resp.AccessRequester.GetSession(), extra: extra})
}

// extraClaimsSession adds claims to fosite's introspection answer.
type extraClaimsSession struct {
	fosite.Session
	extra map[string]any
}

func (s extraClaimsSession) GetExtraClaims() map[string]any { return s.extra }
