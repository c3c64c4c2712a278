package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"

	"github.com/atrium-id/atrium/storage"
)

// fositeStore adapts Atrium's stores to the storage interfaces fosite's
// handlers need. It is the only place fosite requests meet storage.
type fositeStore struct {
	clients storage.ClientStore
	tokens  storage.TokenStore
	now     func() time.Time
	// reused is told the request ID of a grant whose spent code or refresh
	// token was presented again; revokeNow is false where fosite revokes
	// the grant itself.
	reused func(ctx context.Context, requestID string, revokeNow bool)
	// cache keeps clients for Config.ClientCacheTTL.
	cache *clientCache
	// codeSignature is the storage key of an authorization code.
	codeSignature func(ctx context.Context, code string) string
	// parLifespan is how long a pushed authorization request is kept.
	parLifespan time.Duration
	// anonRefresh, when positive, caps the refresh tokens of dynamically
	// registered clients (registration mode open, register.go).
	anonRefresh time.Duration
	// docRefresh caps the refresh tokens of clients resolved from client
	// ID metadata documents (cimd.go).
	docRefresh time.Duration
	// openAudience are the resources every self-registered client may
	// ask for (Resource.SelfRegisteredClients).
	openAudience []string
	// accessRequest is an access token's request as it is stored, with
	// the token's own audience (resource.go).
	accessRequest func(ctx context.Context, r fosite.Requester) fosite.Requester
}

var (
	_ fosite.ClientManager               = (*fositeStore)(nil)
	_ oauth2.CoreStorage                 = (*fositeStore)(nil)
	_ oauth2.TokenRevocationStorage      = (*fositeStore)(nil)
	_ openid.OpenIDConnectRequestStorage = (*fositeStore)(nil)
	_ pkce.PKCERequestStorage            = (*fositeStore)(nil)
	_ fosite.PARStorage                  = (*fositeStore)(nil)
)

// requestMemo remembers what one request has loaded: a code exchange would
// otherwise load its client once per piece of grant state, and a refresh
// would read its refresh token twice.
type requestMemo struct {
	clients map[string]*client
	// accessOf maps a refresh token signature read by this request to the
	// signature of the access token issued with it.
	accessOf map[string]string
	// accessBy maps the request ID of an access token read by this request
	// to its signature, so revoking it finds a token no index lists.
	accessBy map[string]string
	// codes holds the authorization codes this request has read, by
	// signature, as read: the PKCE and OpenID steps of an exchange read
	// the same state, after the code is spent (see the OpenID section).
	codes map[string]*storage.Token
	// code is the authorization code this request creates (batch only).
	code *pendingCode
	// codeJKT and refreshJKT are the DPoP key thumbprints the
	// authorization code (its dpop_jkt, RFC 9449 §10) and the refresh
	// token this request read are bound to; bindAccess and bindRefresh
	// those the tokens it issues are bound to (dpop.go).
	codeJKT, refreshJKT, bindAccess, bindRefresh string
	// exchange marks a token request: only there is a spent code or
	// refresh token a reuse (introspecting one is not).
	exchange bool
	// batch holds back the tokens the request creates, and the access
	// token a rotation retires, for flush to write in one round trip.
	// What decides a race (spending a code or a refresh token) is never
	// held back.
	batch   bool
	pending []*storage.Token
	deletes []storage.TokenRef
}

type requestMemoKey struct{}

// withClientMemo returns a context for one request's memo. It is
// request-scoped: a client changed by an operator is seen by the next request.
func withClientMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, requestMemoKey{}, &requestMemo{})
}

// put sets m[k] = v, making the map first: most requests fill one or
// none of a memo's maps.
func put[V any](m *map[string]V, k string, v V) {
	if *m == nil {
		*m = map[string]V{}
	}
	(*m)[k] = v
}

func memoOf(ctx context.Context) *requestMemo {
	m, _ := ctx.Value(requestMemoKey{}).(*requestMemo)
	return m
}

func (s *fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	memo := memoOf(ctx)
	if memo != nil {
		if c, ok := memo.clients[id]; ok {
			return c, nil
		}
	}
	cl := s.cache.get(id)
	if cl == nil {
		c, err := s.clients.GetClient(ctx, id)
		var de *documentError
		if errors.As(err, &de) {
			// fosite answers invalid_client, with why as the debug text.
			return nil, err
		}
		if errors.Is(err, storage.ErrNotFound) {
			return nil, fosite.ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		if cl, err = newClient(c); err != nil {
			return nil, err
		}
		switch c.Registration {
		case registrationDynamic:
			cl.refreshCap = s.anonRefresh
		case registrationDocument:
			cl.refreshCap = s.docRefresh
		}
		if c.Registration != "" && len(s.openAudience) > 0 {
			cl.audience = union(c.Audience, s.openAudience)
		}
		s.cache.put(id, cl)
	}
	if memo != nil {
		put(&memo.clients, id, cl)
	}
	return cl, nil
}

func (s *fositeStore) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	// Validity is decided atomically by SetClientAssertionJWT.
	return nil
}

func (s *fositeStore) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	err := s.tokens.UseOnce(ctx, "jti:"+jti, exp)
	if errors.Is(err, storage.ErrAlreadyExists) {
		// RFC 7523 §3: a replayed assertion fails client authentication.
		return fosite.ErrInvalidClient.WithHint("The client assertion was already used.")
	}
	return err
}

func (s *fositeStore) create(ctx context.Context, kind storage.TokenKind, signature, accessSignature string, r fosite.Requester) error {
	m := memoOf(ctx)
	m.markDPoP(kind, r)
	var data []byte
	if kind != storage.KindAuthorizeCode || m == nil || !m.batch {
		var err error
		if data, err = encodeRequest(kind, r); err != nil {
			return err
		}
	}
	t := &storage.Token{
		Kind:            kind,
		Signature:       signature,
		RequestID:       r.GetID(),
		ClientID:        r.GetClient().GetID(),
		Active:          true,
		AccessSignature: accessSignature,
		Data:            data,
		CreatedAt:       s.now(),
		ExpiresAt:       s.expiry(kind, r),
	}
	if ss, ok := r.GetSession().(*openid.DefaultSession); ok {
		t.Subject = ss.Subject
		if ss.Claims != nil {
			t.SessionID, _ = ss.Claims.Extra["sid"].(string)
		}
	}
	// A client_credentials grant (no subject) is its access token alone:
	// nothing revokes it by grant, and get checks its client, so no index
	// need list it. That saves Redis two index updates per token.
	t.NoIndex = t.Subject == "" && kind == storage.KindAccessToken
	if m != nil && m.batch {
		if data == nil {
			// Encoded at flush, with the PKCE and OpenID parameters.
			m.code = &pendingCode{t: t, r: r, form: url.Values{}}
		}
		m.pending = append(m.pending, t)
		return nil
	}
	return s.tokens.CreateToken(ctx, t)
}

// pendingCode is an authorization code created by this request and not
// yet written. fosite hands the code, its PKCE state and its OpenID state
// over separately, each with only its own form parameters; they are
// written as one record.
type pendingCode struct {
	t    *storage.Token
	r    fosite.Requester
	form url.Values // the PKCE and OpenID parameters
}

// addCodeState adds the form parameters of fosite's PKCE or OpenID state
// to the code this request is creating, whose signature is sig.
func (s *fositeStore) addCodeState(ctx context.Context, sig string, r fosite.Requester) error {
	m := memoOf(ctx)
	if m == nil || m.code == nil || m.code.t.Signature != sig {
		return errors.New("authz: code state created outside the authorization response of its code")
	}
	for k, v := range r.GetRequestForm() {
		m.code.form[k] = v
	}
	return nil
}

// flush writes what the request's memo holds back (see requestMemo.batch).
// The caller answers only after it succeeds: a client never receives a
// token that was not stored.
func (s *fositeStore) flush(ctx context.Context) error {
	m := memoOf(ctx)
	if m == nil || len(m.pending)+len(m.deletes) == 0 {
		return nil
	}
	if c := m.code; c != nil {
		m.code = nil
		req, ok := c.r.(*fosite.Request)
		if !ok {
			return fmt.Errorf("authz: cannot store a code request of type %T", c.r)
		}
		withForm := *req
		withForm.Form = cloneForm(req.Form)
		for k, v := range c.form {
			withForm.Form[k] = v
		}
		var err error
		if c.t.Data, err = encodeRequest(storage.KindAuthorizeCode, &withForm); err != nil {
			return err
		}
	}
	err := s.tokens.WriteTokens(ctx, m.pending, m.deletes)
	m.pending, m.deletes = nil, nil
	return err
}

// expiry is when the stored state of a token may be dropped. Refresh and
// access tokens are kept past their own expiry while the grant could still be
// replayed, so reuse is detected rather than reported as unknown.
func (s *fositeStore) expiry(kind storage.TokenKind, r fosite.Requester) time.Time {
	sess := r.GetSession()
	switch kind {
	case storage.KindAccessToken:
		return sess.GetExpiresAt(fosite.AccessToken)
	case storage.KindRefreshToken:
		if t := sess.GetExpiresAt(fosite.RefreshToken); !t.IsZero() {
			return t
		}
		return s.now().Add(30 * 24 * time.Hour)
	default:
		// Codes, and the OpenID and PKCE state keyed by codes: keep the state
		// a little past the code's expiry so a replay is recognised.
		if t := sess.GetExpiresAt(fosite.AuthorizeCode); !t.IsZero() {
			return t.Add(time.Hour)
		}
		return s.now().Add(time.Hour)
	}
}

func (s *fositeStore) get(ctx context.Context, kind storage.TokenKind, signature string, session fosite.Session) (*fosite.Request, *storage.Token, error) {
	t, err := s.load(ctx, kind, signature)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	fc, err := s.GetClient(ctx, t.ClientID)
	if err != nil {
		return nil, nil, err
	}
	if cl, ok := fc.(*client); ok && t.CreatedAt.Before(cl.c.CreatedAt) {
		// Issued to a deleted client whose ID was given to a new one.
		return nil, nil, fosite.ErrNotFound
	}
	req, err := decodeRequest(t, fc, session)
	if err != nil {
		return nil, nil, err
	}
	if m := memoOf(ctx); m != nil && kind == storage.KindAuthorizeCode {
		m.codeJKT = req.Form.Get(paramDPoPJKT)
	}
	return req, t, nil
}

// load reads a token, an authorization code only once per request.
func (s *fositeStore) load(ctx context.Context, kind storage.TokenKind, signature string) (*storage.Token, error) {
	m := memoOf(ctx)
	if kind != storage.KindAuthorizeCode || m == nil {
		return s.tokens.GetToken(ctx, kind, signature)
	}
	if t, ok := m.codes[signature]; ok {
		return t, nil
	}
	t, err := s.tokens.GetToken(ctx, kind, signature)
	if err == nil {
		put(&m.codes, signature, t)
	}
	return t, err
}

func (s *fositeStore) delete(ctx context.Context, kind storage.TokenKind, signature string) error {
	err := s.tokens.DeleteToken(ctx, kind, signature)
	if errors.Is(err, storage.ErrNotFound) {
		return fosite.ErrNotFound
	}
	return err
}

// Authorization codes.

func (s *fositeStore) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.create(ctx, storage.KindAuthorizeCode, code, "", r)
}

func (s *fositeStore) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	req, t, err := s.get(ctx, storage.KindAuthorizeCode, code, session)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		// fosite revokes what the code issued when it sees this error.
		s.reportReuse(ctx, t.RequestID, false)
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, nil
}

func (s *fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	err := s.tokens.DeactivateToken(ctx, storage.KindAuthorizeCode, code)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fosite.ErrNotFound
	case errors.Is(err, storage.ErrConflict):
		// A concurrent exchange spent the code first.
		s.lostRace(ctx, storage.KindAuthorizeCode, code)
		return fosite.ErrInvalidatedAuthorizeCode
	}
	return err
}

// Access tokens.

func (s *fositeStore) CreateAccessTokenSession(ctx context.Context, signature string, r fosite.Requester) error {
	if s.accessRequest != nil {
		r = s.accessRequest(ctx, r)
	}
	return s.create(ctx, storage.KindAccessToken, signature, "", r)
}

func (s *fositeStore) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, _, err := s.get(ctx, storage.KindAccessToken, signature, session)
	if err != nil {
		return nil, err
	}
	if memo := memoOf(ctx); memo != nil {
		put(&memo.accessBy, req.GetID(), signature)
	}
	return req, nil
}

func (s *fositeStore) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.delete(ctx, storage.KindAccessToken, signature)
}

// Refresh tokens.

func (s *fositeStore) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, r fosite.Requester) error {
	return s.create(ctx, storage.KindRefreshToken, signature, accessSignature, r)
}

func (s *fositeStore) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, t, err := s.get(ctx, storage.KindRefreshToken, signature, session)
	if err != nil {
		return nil, err
	}
	if memo := memoOf(ctx); memo != nil {
		put(&memo.accessOf, signature, t.AccessSignature)
		memo.refreshJKT = req.Form.Get(formJKT)
	}
	if !t.Active {
		// fosite revokes the whole grant when it sees this error.
		s.reportReuse(ctx, t.RequestID, false)
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

func (s *fositeStore) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return s.delete(ctx, storage.KindRefreshToken, signature)
}

// RotateRefreshToken spends the refresh token and revokes the access token
// issued with it. Exactly one of concurrent rotations of one token succeeds.
func (s *fositeStore) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	access, known := "", false
	if memo := memoOf(ctx); memo != nil {
		access, known = memo.accessOf[signature]
	}
	if !known {
		t, err := s.tokens.GetToken(ctx, storage.KindRefreshToken, signature)
		if errors.Is(err, storage.ErrNotFound) {
			return fosite.ErrNotFound
		}
		if err != nil {
			return err
		}
		access = t.AccessSignature
	}
	if err := s.tokens.DeactivateToken(ctx, storage.KindRefreshToken, signature); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			// A concurrent rotation spent it first.
			s.reportReuse(ctx, requestID, true)
			return fosite.ErrInactiveToken
		}
		if errors.Is(err, storage.ErrNotFound) {
			return fosite.ErrNotFound
		}
		return err
	}
	if m := memoOf(ctx); access != "" && m != nil && m.batch {
		m.deletes = append(m.deletes, storage.TokenRef{Kind: storage.KindAccessToken, Signature: access})
	} else if access != "" {
		if err := s.tokens.DeleteToken(ctx, storage.KindAccessToken, access); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return nil
}

// Revocation by grant.

func (s *fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	_, err := s.tokens.RevokeTokens(ctx, storage.KindRefreshToken, requestID)
	return err
}

func (s *fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	if memo := memoOf(ctx); memo != nil {
		if sig, ok := memo.accessBy[requestID]; ok {
			// The token being revoked, which no index may list (NoIndex).
			if err := s.tokens.DeleteToken(ctx, storage.KindAccessToken, sig); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
		}
	}
	_, err := s.tokens.RevokeTokens(ctx, storage.KindAccessToken, requestID)
	return err
}

// OpenID Connect and PKCE state. fosite keeps them apart from the code,
// and each holds the same request as the code with a few form parameters
// of its own (the PKCE challenge; the nonce, max_age, prompt, ...): those
// are stored with the code (addCodeState, flush), and the state is read
// back from the code, which an exchange has read before it spends it.
// Deleting it does nothing. Spending
// the code (InvalidateAuthorizeCodeSession) is what decides which of two
// racing exchanges wins.

func (s *fositeStore) CreateOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.addCodeState(ctx, s.codeSignature(ctx, code), r)
}

func (s *fositeStore) GetOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) (fosite.Requester, error) {
	req, err := s.codeRequest(ctx, s.codeSignature(ctx, code), r.GetSession())
	if errors.Is(err, fosite.ErrNotFound) {
		return nil, openid.ErrNoSessionFound
	}
	if err != nil {
		return nil, err
	}
	if !req.GetGrantedScopes().Has("openid") {
		return nil, openid.ErrNoSessionFound
	}
	return req, nil
}

func (s *fositeStore) DeleteOpenIDConnectSession(context.Context, string) error { return nil }

// reportReuse passes a reused grant's request ID on to the provider.
func (s *fositeStore) reportReuse(ctx context.Context, requestID string, revokeNow bool) {
	if m := memoOf(ctx); m == nil || !m.exchange {
		return
	}
	if s.reused != nil && requestID != "" {
		s.reused(ctx, requestID, revokeNow)
	}
}

// lostRace reports the grant of code-keyed state that a concurrent
// exchange of the same code spent first. It reads the state again, which
// only this error path does.
func (s *fositeStore) lostRace(ctx context.Context, kind storage.TokenKind, signature string) {
	if t, err := s.tokens.GetToken(ctx, kind, signature); err == nil {
		s.reportReuse(ctx, t.RequestID, true)
	}
}

func (s *fositeStore) CreatePKCERequestSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.addCodeState(ctx, signature, r)
}

func (s *fositeStore) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, err := s.codeRequest(ctx, signature, session)
	if err != nil {
		return nil, err
	}
	if req.Form.Get("code_challenge") == "" && req.Form.Get("code_challenge_method") == "" {
		return nil, fosite.ErrNotFound // authorized without PKCE
	}
	return req, nil
}

func (s *fositeStore) DeletePKCERequestSession(context.Context, string) error { return nil }

// codeRequest is the stored request of the code with the given signature,
// for the PKCE and OpenID steps. A code spent before this request read it
// was spent by a concurrent exchange, which won.
func (s *fositeStore) codeRequest(ctx context.Context, signature string, session fosite.Session) (*fosite.Request, error) {
	req, t, err := s.get(ctx, storage.KindAuthorizeCode, signature, session)
	if err != nil {
		return nil, err
	}
	if len(t.Data) == 0 {
		s.reportReuse(ctx, t.RequestID, true)
		return nil, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, nil
}

// Pushed authorization requests (par.go). A request_uri is stored under its
// digest, with the authorization parameters pushed; redeeming it spends it
// (DeletePARSession), so exactly one authorization request uses it.

// parSignature is the storage key of a request_uri: a leaked store holds
// no usable request_uri.
func parSignature(requestURI string) string {
	return base64.RawURLEncoding.EncodeToString(digest("par:" + requestURI))
}

// pushedOmitted are the parameters of a pushed request not kept with it:
// the client's credentials, and request and request_uri, resolved before.
var pushedOmitted = []string{"client_secret", "client_assertion", "client_assertion_type", "request", "request_uri"}

func (s *fositeStore) CreatePARSession(ctx context.Context, requestURI string, r fosite.AuthorizeRequester) error {
	form := cloneForm(r.GetRequestForm())
	for _, k := range pushedOmitted {
		form.Del(k)
	}
	data, err := json.Marshal(form)
	if err != nil {
		return err
	}
	now := s.now()
	return s.tokens.CreateToken(ctx, &storage.Token{
		Kind: storage.KindPAR, Signature: parSignature(requestURI), RequestID: r.GetID(),
		ClientID: r.GetClient().GetID(), Active: true, Data: data, CreatedAt: now,
		ExpiresAt: now.Add(s.parLifespan),
		// Spent or expired within minutes: no revocation need find it.
		NoIndex: true,
	})
}

// errPARSpent is the error of a request_uri already used.
var errPARSpent = errors.New("request_uri already used")

// GetPARSession returns the pushed request: its client and its parameters.
// It reports fosite.ErrNotFound when the request_uri is unknown or expired,
// and errPARSpent once it has been used.
func (s *fositeStore) GetPARSession(ctx context.Context, requestURI string) (fosite.AuthorizeRequester, error) {
	t, err := s.tokens.GetToken(ctx, storage.KindPAR, parSignature(requestURI))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, fosite.ErrNotFound
	case err != nil:
		return nil, err
	case !s.now().Before(t.ExpiresAt):
		return nil, fosite.ErrNotFound
	case !t.Active:
		return nil, errPARSpent
	}
	fc, err := s.GetClient(ctx, t.ClientID)
	if err != nil {
		return nil, err
	}
	if cl, ok := fc.(*client); ok && t.CreatedAt.Before(cl.c.CreatedAt) {
		return nil, fosite.ErrNotFound // pushed by a deleted client
	}
	form := url.Values{}
	if err := json.Unmarshal(t.Data, &form); err != nil {
		return nil, fmt.Errorf("decode pushed request: %w", err)
	}
	ar := fosite.NewAuthorizeRequest()
	ar.ID, ar.Client, ar.Form, ar.RequestedAt = t.RequestID, fc, form, t.CreatedAt
	return ar, nil
}

// DeletePARSession spends the request_uri. Of concurrent callers exactly
// one succeeds; the others get errPARSpent.
func (s *fositeStore) DeletePARSession(ctx context.Context, requestURI string) error {
	err := s.tokens.DeactivateToken(ctx, storage.KindPAR, parSignature(requestURI))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fosite.ErrNotFound
	case errors.Is(err, storage.ErrConflict):
		return errPARSpent
	}
	return err
}
