package authz

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/atrium-id/atrium/federation"
	"github.com/atrium-id/atrium/storage"
)

// Upstream sign-in ("Continue with GitHub"): the login page's buttons post
// to /federation/{id}/start, which stores state, nonce and PKCE verifier in
// the interaction and redirects to the upstream. The upstream returns to
// /federation/{id}/callback with state = interaction ID + "." + a random
// part; the callback finds the interaction by the ID, checks the browser
// binding and the random part, spends them, and has the connector redeem
// the code. The identity is then matched to an account:
//
//   - a linked identity (provider, subject) signs its user in, updating the
//     profile unless the provider's update_profile is "once";
//   - a new identity whose verified email belongs to an account is linked
//     automatically only when the provider has trust_email; otherwise the
//     person proves the account on /federation/link, with its password or
//     by signing in with an upstream identity already linked to it (a
//     second upstream sign-in, with Prove set, whose identity must belong
//     to that account);
//   - otherwise a new account is created from the upstream profile. An
//     unverified upstream email is never given to an account (it stays with
//     the linked identity): it could squat someone else's address, and
//     handling it alike whether or not an account has it reveals nothing.
//
// Failures show an error page that links back to the login page of the
// same interaction; nothing is created.
const (
	pathLink = "/federation/link"

	// resubmitField marks the callback re-posted by the resubmit page.
	resubmitField = "atrium_resubmit"

	amrFederated = "fed"
	amrPassword  = "pwd"
)

// upstreamState is what start generated for one upstream sign-in.
type upstreamState struct {
	Provider string `json:"provider"`
	State    string `json:"state"` // the random part of the state parameter
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"` // PKCE code verifier
	// Prove marks a sign-in that proves the account of the pending link
	// (interaction.Link) instead of signing in.
	Prove bool `json:"prove,omitempty"`
}

// pendingLink is an upstream identity whose verified email belongs to an
// existing account, waiting for the account's password.
type pendingLink struct {
	UserID   string              `json:"user_id"`
	Identity federation.Identity `json:"identity"` // Token always nil
	Tokens   []byte              `json:"tokens,omitempty"`
}

func (p *Provider) federationRoutes(m *http.ServeMux) {
	if p.cfg.Federation == nil || len(p.cfg.Federation.List()) == 0 {
		return
	}
	if p.stores.Identities == nil {
		panic("authz: Config.Federation has providers but Stores.Identities is nil")
	}
	for _, c := range p.cfg.Federation.List() {
		if cfg, _ := p.cfg.Federation.Config(c.ID()); cfg.StoreTokens && p.cfg.UpstreamTokens == nil {
			panic("authz: federation provider " + c.ID() + " has store_tokens but Config.UpstreamTokens is nil")
		}
	}
	m.HandleFunc("POST /federation/{provider}/start", p.upstreamStart)
	m.HandleFunc("GET /federation/{provider}/callback", p.upstreamCallback)
	m.HandleFunc("POST /federation/{provider}/callback", p.upstreamCallback)
	m.HandleFunc("GET "+pathLink, p.linkPage)
	m.HandleFunc("POST "+pathLink, p.linkSubmit)
}

// CallbackURL is the redirect URI to register at the upstream provider id.
func CallbackURL(issuer, id string) string {
	return strings.TrimSuffix(issuer, "/") + "/federation/" + id + "/callback"
}

func (p *Provider) connector(id string) (federation.Connector, federation.Config, bool) {
	if p.cfg.Federation == nil {
		return nil, federation.Config{}, false
	}
	c, ok := p.cfg.Federation.Get(id)
	if !ok {
		return nil, federation.Config{}, false
	}
	cfg, _ := p.cfg.Federation.Config(id)
	return c, cfg, true
}

func (p *Provider) providerButtons() []providerButton {
	if p.cfg.Federation == nil {
		return nil
	}
	var out []providerButton
	for _, c := range p.cfg.Federation.List() {
		out = append(out, providerButton{ID: c.ID(), Label: c.Label(), Logo: c.Logo()})
	}
	return out
}

// hintedConnector is the upstream named by the request's idp_hint, if any.
func (p *Provider) hintedConnector(form url.Values) federation.Connector {
	hint := form.Get("idp_hint")
	if hint == "" {
		return nil
	}
	c, _, _ := p.connector(hint)
	return c
}

// providerName is the upstream's name for sentences ("GitHub").
func providerName(c federation.Connector) string { return federation.Name(c) }

func (p *Provider) loginURL(ix *interaction) string {
	return p.url(pathLogin) + "?interaction=" + url.QueryEscape(ix.ID)
}

func (p *Provider) linkURL(ix *interaction) string {
	return p.url(pathLink) + "?interaction=" + url.QueryEscape(ix.ID)
}

func (p *Provider) upstreamStart(w http.ResponseWriter, r *http.Request) {
	ix, err := p.loadInteraction(r)
	if err != nil {
		p.interactionGone(w, r, err)
		return
	}
	c, _, ok := p.connector(r.PathValue("provider"))
	if !ok {
		p.upstreamFailure(w, r, ix, http.StatusNotFound, "Sign-in option not available",
			"This sign-in option is not available. Please choose another way to sign in.")
		return
	}
	p.startUpstream(w, r, ix, c, false)
}

// startUpstream stores a fresh state, nonce and PKCE verifier in ix and
// sends the browser to the upstream. ix must have its ID. A sign-in that
// proves the account of a pending link keeps the link; any other drops it.
func (p *Provider) startUpstream(w http.ResponseWriter, r *http.Request, ix *interaction, c federation.Connector, prove bool) {
	ctx := r.Context()
	st := &upstreamState{Provider: c.ID(), State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(), Prove: prove}
	ix.Upstream = st
	if !prove {
		ix.Link = nil
	}
	if err := p.saveInteraction(ctx, ix); err != nil {
		p.serverError(w, r, err)
		return
	}
	to, err := c.AuthCodeURL(ctx, federation.AuthRequest{
		State:        ix.ID + "." + st.State,
		Nonce:        st.Nonce,
		CodeVerifier: st.Verifier,
		RedirectURI:  CallbackURL(p.cfg.Issuer, c.ID()),
		LoginHint:    ix.Form.Get("login_hint"),
	})
	if err != nil {
		p.upstreamError(w, r, ix, c, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (p *Provider) upstreamCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, cfg, ok := p.connector(r.PathValue("provider"))
	if !ok {
		p.log.InfoContext(ctx, "upstream callback rejected", "reason", "unknown provider", "request_id", requestID(w, r))
		p.errorPage(w, r, http.StatusNotFound, "Sign-in option not available",
			"This sign-in option is not available. Go back to the application and sign in again.")
		return
	}
	if err := r.ParseForm(); err != nil {
		p.callbackRejected(w, r, nil, "unparsable callback")
		return
	}
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		params = r.PostForm
	}
	ixID, random, found := strings.Cut(params.Get("state"), ".")
	if !found || ixID == "" || random == "" {
		p.callbackRejected(w, r, nil, "callback without a valid state")
		return
	}
	if _, err := r.Cookie(cookieBinding); err != nil && r.Method == http.MethodPost {
		// A cross-site form_post (Apple) carries no SameSite=Lax cookie:
		// post the same answer again from this origin, where it does.
		if params.Get(resubmitField) != "" {
			p.interactionGone(w, r, errors.New("no binding cookie on the resubmitted callback"))
			return
		}
		p.resubmit(w, r, params)
		return
	}
	params.Del(resubmitField)
	ix, err := p.boundInteraction(r, ixID)
	if err != nil {
		p.interactionGone(w, r, err)
		return
	}
	pending := ix.Upstream
	if pending == nil || pending.Provider != c.ID() || subtle.ConstantTimeCompare([]byte(random), []byte(pending.State)) != 1 {
		p.callbackRejected(w, r, ix, "state does not match the pending upstream sign-in")
		return
	}
	// The state is spent: a replayed callback finds nothing pending.
	ix.Upstream = nil
	if err := p.saveInteraction(ctx, ix); err != nil {
		p.serverError(w, r, err)
		return
	}
	id, err := c.Exchange(ctx, federation.Callback{
		Params: params, Nonce: pending.Nonce, CodeVerifier: pending.Verifier,
		RedirectURI: CallbackURL(p.cfg.Issuer, c.ID()),
	})
	if err != nil {
		p.upstreamError(w, r, ix, c, err)
		return
	}
	switch {
	case ix.LinkTo != nil:
		p.completeLinkIntent(w, r, ix, c, cfg, id)
	case pending.Prove:
		p.completeProof(w, r, ix, c, id)
	default:
		p.completeUpstream(w, r, ix, c, cfg, id)
	}
}

// resubmit answers a callback POST that lacks the binding cookie with a
// page that posts the same fields to the same URL from this origin.
func (p *Provider) resubmit(w http.ResponseWriter, r *http.Request, params url.Values) {
	var fields []param
	for name, vs := range params {
		for _, v := range vs {
			fields = append(fields, param{Name: name, Value: v})
		}
	}
	fields = append(fields, param{Name: resubmitField, Value: "1"})
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	p.render(w, r, http.StatusOK, "resubmit", pageData{
		Title: "Continue signing in", Action: "callback", Params: fields,
		ScriptNonce: hex.EncodeToString(nonce),
	})
}

// callbackRejected shows that a callback matched no sign-in started here.
func (p *Provider) callbackRejected(w http.ResponseWriter, r *http.Request, ix *interaction, reason string) {
	p.log.InfoContext(r.Context(), "upstream callback rejected", "reason", reason, "request_id", requestID(w, r))
	p.upstreamFailure(w, r, ix, http.StatusBadRequest, "This sign-in could not be completed",
		"The answer of the sign-in provider does not match a sign-in started in this browser. Please try again.")
}

// upstreamError shows a failed upstream sign-in: the federation error's
// message for the person, its detail in the log.
func (p *Provider) upstreamError(w http.ResponseWriter, r *http.Request, ix *interaction, c federation.Connector, err error) {
	status, msg, kind := http.StatusBadGateway, "The sign-in failed. Please try again.", "unknown"
	var fe *federation.Error
	if errors.As(err, &fe) {
		msg, kind = fe.Message(), string(fe.Kind)
		switch fe.Kind {
		case federation.ErrDenied, federation.ErrMissingEmail:
			status = http.StatusForbidden
		case federation.ErrInvalidResponse:
			status = http.StatusBadRequest
		case federation.ErrUnavailable:
			status = http.StatusServiceUnavailable
		case federation.ErrConfig:
			status = http.StatusBadGateway
		}
	}
	level := p.log.InfoContext
	if status >= 500 {
		level = p.log.WarnContext
	}
	level(r.Context(), "upstream sign-in failed", "provider", c.ID(), "kind", kind, "err", err.Error(), "request_id", requestID(w, r))
	p.upstreamFailure(w, r, ix, status, "Sign-in with "+providerName(c)+" failed", msg)
}

// upstreamFailure renders the error page, with a link back to where the
// interaction can be tried again: the account area for a link intent, the
// link page for a pending link, the login page otherwise.
func (p *Provider) upstreamFailure(w http.ResponseWriter, r *http.Request, ix *interaction, status int, title, msg string) {
	d := pageData{Title: title, Message: msg, RequestID: requestID(w, r)}
	if ix != nil {
		d.Locales = ix.Form.Get("ui_locales")
	}
	switch {
	case ix == nil:
	case ix.LinkTo != nil && ValidReturnPath(ix.Return):
		d.Retry = ix.Return
	case ix.Link != nil:
		d.Retry = p.linkURL(ix)
	default:
		d.Retry = p.loginURL(ix)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "30")
	}
	p.render(w, r, status, "error", d)
}

// completeUpstream signs in the account of an upstream identity: the
// linked one, an automatically linked one, a new one, or, for an email
// that belongs to an account, the link page.
func (p *Provider) completeUpstream(w http.ResponseWriter, r *http.Request, ix *interaction, c federation.Connector, cfg federation.Config, id *federation.Identity) {
	ctx := r.Context()
	sealed, err := p.sealTokens(cfg, id)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	linked, err := p.stores.Identities.GetIdentity(ctx, id.Provider, id.Subject)
	switch {
	case err == nil:
		user, err := p.activeUser(ctx, linked.UserID)
		if errors.Is(err, storage.ErrNotFound) {
			p.accountDisabled(w, r, ix, id)
			return
		} else if err != nil {
			p.serverError(w, r, err)
			return
		}
		linked.Email, linked.Claims, linked.Tokens, linked.UpdatedAt = id.Email, id.Claims, sealed, p.now()
		if err := p.stores.Identities.UpdateIdentity(ctx, linked); err != nil {
			p.serverError(w, r, err)
			return
		}
		if err := p.updateProfile(ctx, cfg, user, id); err != nil {
			p.serverError(w, r, err)
			return
		}
		p.log.InfoContext(ctx, "upstream sign-in", "provider", id.Provider, "user_id", user.ID, "request_id", requestID(w, r))
		p.audit(r, storage.AuditLoginSucceeded, user.ID, ix.Form.Get("client_id"), map[string]string{"method": "upstream", "provider": id.Provider})
		p.firstFactor(w, r, ix, user, []string{amrFederated})
		return
	case !errors.Is(err, storage.ErrNotFound):
		p.serverError(w, r, err)
		return
	}

	if id.Email != "" && id.EmailVerified {
		owner, err := p.stores.Users.GetUserByEmail(ctx, id.Email)
		switch {
		case err == nil && cfg.TrustEmail:
			if owner.Disabled {
				p.accountDisabled(w, r, ix, id)
				return
			}
			if err := p.link(ctx, cfg, owner, id, sealed); err != nil {
				p.serverError(w, r, err)
				return
			}
			p.log.InfoContext(ctx, "upstream identity linked by trusted email", "provider", id.Provider, "user_id", owner.ID, "request_id", requestID(w, r))
			p.audit(r, storage.AuditIdentityLinked, owner.ID, ix.Form.Get("client_id"), map[string]string{"provider": id.Provider, "proof": "trusted email"})
			p.audit(r, storage.AuditLoginSucceeded, owner.ID, ix.Form.Get("client_id"), map[string]string{"method": "upstream", "provider": id.Provider})
			p.firstFactor(w, r, ix, owner, []string{amrFederated})
			return
		case err == nil:
			keep := *id
			keep.Token = nil
			ix.Link = &pendingLink{UserID: owner.ID, Identity: keep, Tokens: sealed}
			if err := p.saveInteraction(ctx, ix); err != nil {
				p.serverError(w, r, err)
				return
			}
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, p.linkURL(ix), http.StatusSeeOther)
			return
		case !errors.Is(err, storage.ErrNotFound):
			p.serverError(w, r, err)
			return
		}
	}

	user, err := p.createFederatedUser(ctx, id, sealed)
	if errors.Is(err, storage.ErrAlreadyExists) {
		// Another request created the account or the link meanwhile.
		p.upstreamFailure(w, r, ix, http.StatusConflict, "Sign-in with "+providerName(c)+" failed",
			"This sign-in was completed at the same time in another window. Please try again.")
		return
	}
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	p.log.InfoContext(ctx, "account created from upstream sign-in", "provider", id.Provider, "user_id", user.ID, "request_id", requestID(w, r))
	p.audit(r, storage.AuditSignup, user.ID, ix.Form.Get("client_id"), map[string]string{"method": "upstream", "provider": id.Provider})
	p.audit(r, storage.AuditLoginSucceeded, user.ID, ix.Form.Get("client_id"), map[string]string{"method": "upstream", "provider": id.Provider})
	p.firstFactor(w, r, ix, user, []string{amrFederated})
}

func (p *Provider) accountDisabled(w http.ResponseWriter, r *http.Request, ix *interaction, id *federation.Identity) {
	p.log.InfoContext(r.Context(), "upstream sign-in refused", "reason", "account disabled", "provider", id.Provider, "request_id", requestID(w, r))
	p.audit(r, storage.AuditLoginFailed, "", ix.Form.Get("client_id"), map[string]string{"method": "upstream", "provider": id.Provider, "reason": "account disabled"})
	p.upstreamFailure(w, r, ix, http.StatusForbidden, "This account cannot sign in",
		"The account linked to this sign-in is disabled. Contact the site's support.")
}

// createFederatedUser creates an account from an upstream profile, and
// its linked identity. The email comes along only when verified.
func (p *Provider) createFederatedUser(ctx context.Context, id *federation.Identity, sealed []byte) (*storage.User, error) {
	now := p.now().UTC()
	u := &storage.User{
		ID: newUserID(), Name: id.Name, GivenName: id.GivenName, FamilyName: id.FamilyName,
		Nickname: id.Nickname, Picture: id.Picture, Locale: id.Locale, CreatedAt: now, UpdatedAt: now,
	}
	if id.Email != "" && id.EmailVerified {
		u.Email, u.EmailVerified = strings.ToLower(id.Email), true
	}
	if err := p.stores.Users.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	if err := p.stores.Identities.CreateIdentity(ctx, newIdentity(u.ID, id, sealed, now)); err != nil {
		if derr := p.stores.Users.DeleteUser(ctx, u.ID); derr != nil {
			err = errors.Join(err, fmt.Errorf("remove the half-created user %s: %w", u.ID, derr))
		}
		return nil, err
	}
	return u, nil
}

// link links an upstream identity to an existing account.
func (p *Provider) link(ctx context.Context, cfg federation.Config, user *storage.User, id *federation.Identity, sealed []byte) error {
	if err := p.stores.Identities.CreateIdentity(ctx, newIdentity(user.ID, id, sealed, p.now().UTC())); err != nil {
		return err
	}
	return p.updateProfile(ctx, cfg, user, id)
}

func newIdentity(userID string, id *federation.Identity, sealed []byte, now time.Time) *storage.Identity {
	return &storage.Identity{
		ID: newUserID(), UserID: userID, Provider: id.Provider, Subject: id.Subject,
		Email: id.Email, Claims: id.Claims, Tokens: sealed, CreatedAt: now, UpdatedAt: now,
	}
}

// updateProfile copies the upstream profile onto the account, unless the
// provider's update_profile is "once". Only fields the upstream sent are
// copied; the account's email is never replaced (it is how the person
// signs in with a password), only filled in when empty and verified.
func (p *Provider) updateProfile(ctx context.Context, cfg federation.Config, u *storage.User, id *federation.Identity) error {
	if cfg.UpdateProfile == federation.UpdateProfileOnce {
		return nil
	}
	changed := false
	set := func(dst *string, v string) {
		if v != "" && *dst != v {
			*dst, changed = v, true
		}
	}
	set(&u.Name, id.Name)
	set(&u.GivenName, id.GivenName)
	set(&u.FamilyName, id.FamilyName)
	set(&u.Nickname, id.Nickname)
	set(&u.Picture, id.Picture)
	set(&u.Locale, id.Locale)
	now := p.now().UTC()
	if u.Email == "" && id.Email != "" && id.EmailVerified {
		withEmail := *u
		withEmail.Email, withEmail.EmailVerified, withEmail.UpdatedAt = strings.ToLower(id.Email), true, now
		err := p.stores.Users.UpdateUser(ctx, &withEmail)
		if err == nil {
			*u = withEmail
			return nil
		}
		if !errors.Is(err, storage.ErrAlreadyExists) {
			return err
		}
		// The address belongs to another account: keep this one without.
	}
	if !changed {
		return nil
	}
	u.UpdatedAt = now
	return p.stores.Users.UpdateUser(ctx, u)
}

// upstreamTokens is what is sealed of an upstream's tokens.
type upstreamTokens struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	IDToken      string    `json:"id_token,omitempty"`
}

// TokensAAD is the additional data upstream tokens are sealed with: they
// open only as the tokens of that provider and subject.
func TokensAAD(provider, subject string) []byte {
	return []byte("federation-tokens\x00" + provider + "\x00" + subject)
}

// sealTokens seals the identity's upstream tokens when the provider keeps
// them, and returns nil otherwise.
func (p *Provider) sealTokens(cfg federation.Config, id *federation.Identity) ([]byte, error) {
	if !cfg.StoreTokens || id.Token == nil || p.cfg.UpstreamTokens == nil {
		return nil, nil
	}
	t := upstreamTokens{
		AccessToken: id.Token.AccessToken, TokenType: id.Token.TokenType,
		RefreshToken: id.Token.RefreshToken, Expiry: id.Token.Expiry,
	}
	t.IDToken, _ = id.Token.Extra("id_token").(string)
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	sealed, err := p.cfg.UpstreamTokens.Seal(b, TokensAAD(id.Provider, id.Subject))
	if err != nil {
		return nil, fmt.Errorf("seal upstream tokens: %w", err)
	}
	return sealed, nil
}

func (p *Provider) linkPage(w http.ResponseWriter, r *http.Request) {
	ix, err := p.loadInteraction(r)
	if err != nil {
		p.interactionGone(w, r, err)
		return
	}
	if ix.Link == nil {
		http.Redirect(w, r, p.loginURL(ix), http.StatusSeeOther)
		return
	}
	p.renderLink(w, r, ix, http.StatusOK, "")
}

func (p *Provider) renderLink(w http.ResponseWriter, r *http.Request, ix *interaction, status int, problem string) {
	owner, err := p.stores.Users.GetUser(r.Context(), ix.Link.UserID)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	name := ix.Link.Identity.Provider
	if c, _, ok := p.connector(name); ok {
		name = providerName(c)
	}
	proofs, err := p.proofProviders(r.Context(), owner.ID)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	p.render(w, r, status, "link", pageData{
		Title: "Link your " + name + " sign-in", Interaction: ix.ID, CSRF: ix.CSRF, Email: owner.Email,
		Error: problem, Provider: name, Action: strings.TrimPrefix(pathLink, "/federation/"), Providers: proofs,
		Locales: ix.Form.Get("ui_locales"),
	})
}

// proofProviders are the configured upstreams the account userID has an
// identity at: signing in with one proves the account on the link page.
func (p *Provider) proofProviders(ctx context.Context, userID string) ([]providerButton, error) {
	ids, err := p.stores.Identities.ListIdentities(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []providerButton
	for _, b := range p.providerButtons() {
		if slices.ContainsFunc(ids, func(i *storage.Identity) bool { return i.Provider == b.ID }) {
			out = append(out, b)
		}
	}
	return out, nil
}

// completeProof ends the sign-in that proves the account of the pending
// link: its identity must be linked to that account. Then the pending
// identity is linked and the account signed in; otherwise nothing is
// linked and the link page stays available.
func (p *Provider) completeProof(w http.ResponseWriter, r *http.Request, ix *interaction, c federation.Connector, id *federation.Identity) {
	ctx := r.Context()
	if ix.Link == nil {
		p.callbackRejected(w, r, ix, "proof without a pending link")
		return
	}
	proof, err := p.stores.Identities.GetIdentity(ctx, id.Provider, id.Subject)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		p.serverError(w, r, err)
		return
	}
	if err != nil || proof.UserID != ix.Link.UserID {
		p.log.InfoContext(ctx, "link failed", "reason", "proof by an identity of another account or of none", "provider", id.Provider, "request_id", requestID(w, r))
		p.audit(r, storage.AuditLoginFailed, ix.Link.UserID, ix.Form.Get("client_id"), map[string]string{"method": "upstream", "provider": id.Provider, "step": "link", "reason": "proof by an identity of another account or of none"})
		p.upstreamFailure(w, r, ix, http.StatusForbidden, "Your sign-in was not linked",
			"The "+providerName(c)+" account you signed in with is not the one linked to this account. Nothing was linked. "+
				"Try again with the right "+providerName(c)+" account, or with the password.")
		return
	}
	owner, err := p.activeUser(ctx, ix.Link.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		p.accountDisabled(w, r, ix, id)
		return
	} else if err != nil {
		p.serverError(w, r, err)
		return
	}
	p.linkPending(w, r, ix, owner, []string{amrFederated})
}

// linkPending links the pending identity of ix to user, who has just
// proved the account, and signs the user in.
func (p *Provider) linkPending(w http.ResponseWriter, r *http.Request, ix *interaction, user *storage.User, amr []string) {
	ctx := r.Context()
	cfg, _ := p.cfg.Federation.Config(ix.Link.Identity.Provider)
	id := ix.Link.Identity
	switch err := p.linkOnce(ctx, cfg, user, &id, ix.Link.Tokens); {
	case errors.Is(err, errLinkedElsewhere):
		// Linked meanwhile (another window) to another account.
		p.upstreamFailure(w, r, ix, http.StatusConflict, "This sign-in could not be linked",
			"It was linked to another account meanwhile. Please sign in again.")
		return
	case err != nil:
		p.serverError(w, r, err)
		return
	}
	p.log.InfoContext(ctx, "upstream identity linked", "provider", id.Provider, "user_id", user.ID, "request_id", requestID(w, r))
	p.audit(r, storage.AuditIdentityLinked, user.ID, ix.Form.Get("client_id"), map[string]string{"provider": id.Provider, "proof": strings.Join(amr, " ")})
	p.firstFactor(w, r, ix, user, amr)
}

func (p *Provider) linkSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ix, err := p.loadInteraction(r)
	if err != nil {
		p.interactionGone(w, r, err)
		return
	}
	if ix.Link == nil {
		http.Redirect(w, r, p.loginURL(ix), http.StatusSeeOther)
		return
	}
	if r.PostFormValue("action") == "prove" {
		p.proveWith(w, r, ix, r.PostFormValue("provider"))
		return
	}
	if r.PostFormValue("action") == "cancel" {
		ix.Link = nil
		if err := p.saveInteraction(ctx, ix); err != nil {
			p.serverError(w, r, err)
			return
		}
		http.Redirect(w, r, p.loginURL(ix), http.StatusSeeOther)
		return
	}
	owner, err := p.stores.Users.GetUser(ctx, ix.Link.UserID)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	counted, err := p.loginThrottle(r, owner.Email)
	if t, ok := throttled(err); ok {
		p.log.WarnContext(ctx, "link throttled", "scope", t.scope, "request_id", requestID(w, r))
		p.audit(r, storage.AuditLoginThrottled, owner.ID, ix.Form.Get("client_id"), map[string]string{"method": "password", "step": "link", "scope": t.scope})
		p.renderLink(w, r, ix, http.StatusTooManyRequests, "Too many sign-in attempts. "+retryAfter(w, t.retry))
		return
	} else if err != nil {
		p.serverError(w, r, err)
		return
	}
	user, err := p.checkPassword(ctx, owner.Email, r.PostFormValue("password"))
	if err != nil && !errors.Is(err, errBadCredentials) {
		p.serverError(w, r, err)
		return
	}
	if err != nil || user.ID != owner.ID {
		p.log.InfoContext(ctx, "link failed", "reason", cmpErr(err, "another account").Error(), "request_id", requestID(w, r))
		p.passwordFailed(r, ix, owner.Email, counted, cmpErr(err, "another account"))
		p.renderLink(w, r, ix, http.StatusUnauthorized, "Incorrect password.")
		return
	}
	p.passwordSucceeded(r, ix, owner.Email, user)
	p.linkPending(w, r, ix, user, []string{amrPassword, amrFederated})
}

// proveWith starts the upstream sign-in that proves the account of the
// pending link with its identity at provider.
func (p *Provider) proveWith(w http.ResponseWriter, r *http.Request, ix *interaction, provider string) {
	proofs, err := p.proofProviders(r.Context(), ix.Link.UserID)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	c, _, ok := p.connector(provider)
	if !ok || !slices.ContainsFunc(proofs, func(b providerButton) bool { return b.ID == provider }) {
		p.renderLink(w, r, ix, http.StatusBadRequest, "Choose one of the sign-in options shown.")
		return
	}
	p.startUpstream(w, r, ix, c, true)
}

// newUserID returns a random (version 4) UUID, the form of every user ID.
func newUserID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("atrium: no randomness: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
