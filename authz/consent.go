package authz

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/ory/fosite"

	"github.com/atrium-id/atrium/consent"
	"github.com/atrium-id/atrium/storage"
)

// Maximum lengths of what the consent ledger keeps of a request.
const maxLedgerUserAgent = 512

// consentScopes are the requested scopes the user may leave out: every
// one but openid.
func consentScopes(ar fosite.AuthorizeRequester) []string {
	return consent.Optional(ar.GetRequestedScopes())
}

// hasConsent reports whether the request may go on without the consent
// screen (consent.Decide): the user's remembered consent answers every
// scope it asks for and lets the app reach every resource it names (its
// requested audience) under the current policy version, or the client is
// first-party, and prompt does not ask for consent. When it may, ix
// records what the remembered consent grants: the requested scopes but
// those the user declined.
func (p *Provider) hasConsent(ctx context.Context, ix *interaction, userID string, ar fosite.AuthorizeRequester) (bool, error) {
	d, err := p.consentDecision(ctx, userID, ar)
	if err != nil || d.Ask {
		return false, err
	}
	ix.Consented, ix.Granted = true, d.Grant(ar.GetRequestedScopes())
	return true, nil
}

// consentDecision applies consent.Decide to the request and the user's
// remembered consent to its client.
func (p *Provider) consentDecision(ctx context.Context, userID string, ar fosite.AuthorizeRequester) (consent.Decision, error) {
	req := consent.Request{Requested: ar.GetRequestedScopes(), Resources: ar.GetRequestedAudience(),
		PolicyVersion: p.cfg.ConsentPolicyVersion, Prompt: prompts(ar.GetRequestForm())}
	if cl, ok := ar.GetClient().(*client); ok {
		req.FirstParty = cl.c.FirstParty
	}
	if req.FirstParty && !slices.Contains(req.Prompt, "consent") {
		// Not asked whatever the user granted: no need to read it.
		return consent.Decide(req), nil
	}
	c, err := p.stores.Consents.GetConsent(ctx, userID, ar.GetClient().GetID())
	if errors.Is(err, storage.ErrNotFound) {
		c, err = nil, nil
	}
	if err != nil {
		return consent.Decision{}, err
	}
	req.Stored = c
	return consent.Decide(req), nil
}

func (p *Provider) consentPage(w http.ResponseWriter, r *http.Request) {
	ix, err := p.loadInteraction(r)
	if err != nil || ix.UserID == "" {
		p.interactionGone(w, r, cmpErr(err, "consent before sign-in"))
		return
	}
	ar, err := p.resume(r.Context(), ix)
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	p.renderConsent(w, r, http.StatusOK, ix, ar, "")
}

// renderConsent shows the consent screen: the app, each scope it asks
// for in plain words with the claims it releases, and each resource (API)
// it asks to use on the user's behalf, by its configured name with its
// URI. The optional scopes are checkboxes, ticked by default but those the
// user declined before; resources are not optional. When the user
// answered for some scopes before, the others are marked new; when they
// answered the app before, so are the resources it could not reach.
func (p *Provider) renderConsent(w http.ResponseWriter, r *http.Request, status int, ix *interaction, ar fosite.AuthorizeRequester, problem string) {
	cl, _ := p.stores.Clients.GetClient(r.Context(), ar.GetClient().GetID())
	d, err := p.consentDecision(r.Context(), ix.UserID, ar)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	optional := consentScopes(ar)
	var scopes []scopeView
	for _, s := range optional {
		scopes = append(scopes, scopeView{Name: s, Description: p.claims.describe(s), Claims: p.claims.scopes[s],
			New: len(d.New) < len(optional) && slices.Contains(d.New, s), Declined: slices.Contains(d.Declined, s)})
	}
	var resources []resourceView
	for _, uri := range consent.Resources(ar.GetRequestedAudience()) {
		resources = append(resources, resourceView{Name: p.ResourceName(uri), URI: uri,
			New: d.Answered && slices.Contains(d.NewResources, uri)})
	}
	p.render(w, r, status, "consent", pageData{
		Title: "Allow access", Interaction: ix.ID, CSRF: ix.CSRF, Client: cl, ClientHost: documentHost(cl), Scopes: scopes,
		Resources: resources, Locales: ix.Form.Get("ui_locales"), UserID: ix.UserID, Error: problem, Device: consentDevice(ix),
	})
}

func (p *Provider) consentSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ix, err := p.loadInteraction(r)
	if err != nil || ix.UserID == "" {
		p.interactionGone(w, r, cmpErr(err, "consent before sign-in"))
		return
	}
	ar, err := p.resume(ctx, ix)
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	switch r.PostFormValue("action") {
	case "allow":
	case "deny":
		if ix.Device != nil {
			p.denyDevice(w, r, ix)
			return
		}
		_ = p.stores.Sessions.DeleteInteraction(ctx, ix.ID)
		p.writeAuthorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return
	default:
		p.renderConsent(w, r, http.StatusBadRequest, ix, ar, "Choose Allow or Deny.")
		return
	}
	now := p.now()
	clientID := ar.GetClient().GetID()
	c, err := p.stores.Consents.GetConsent(ctx, ix.UserID, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		c, err = &storage.Consent{UserID: ix.UserID, ClientID: clientID, CreatedAt: now}, nil
	}
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	// The remembered consent is this answer: scopes asked now are granted
	// when ticked and declined when not; the answers about scopes not
	// asked now stay. Only what the request asked for can be granted or
	// declined: a ticked scope it did not ask for is ignored. The
	// resources the request names, all shown, are allowed with those
	// allowed before; they come from the request, never from the form.
	granted := consent.Answer(c, p.cfg.ConsentPolicyVersion, ar.GetRequestedScopes(), r.PostForm["scope"], ar.GetRequestedAudience())
	c.UpdatedAt = now
	if err := p.stores.Consents.PutConsent(ctx, c); err != nil {
		p.serverError(w, r, err)
		return
	}
	if err := p.appendConsentEvent(r, ix.UserID, clientID, storage.ConsentGranted, granted, consent.Resources(ar.GetRequestedAudience())); err != nil {
		p.serverError(w, r, err)
		return
	}
	ix.Consented, ix.Granted = true, granted
	if !ix.LoggedIn {
		// The user was signed in by the SSO session; make proceed use it.
		ix.LoggedIn = true
	}
	p.proceed(w, r, ar, ix)
}

// appendConsentEvent writes an entry of the consent ledger for r.
func (p *Provider) appendConsentEvent(r *http.Request, userID, clientID, action string, scopes, resources []string) error {
	return p.stores.Consents.AppendConsentEvent(r.Context(), &storage.ConsentEvent{
		UserID: userID, ClientID: clientID, Scopes: scopes, Resources: resources, Action: action, At: p.now(),
		PolicyVersion: p.cfg.ConsentPolicyVersion,
		IP:            p.clientIP(r), UserAgent: truncate(r.UserAgent(), maxLedgerUserAgent),
	})
}

// RevokeConsent withdraws the user's consent to a client (the user
// revoking an app): the remembered consent goes, a "revoked" entry is
// written to the consent ledger with the client address and user agent of
// r, and every token the client holds for the user is revoked, so they
// stop working at once. It returns storage.ErrNotFound, changing nothing,
// when the user has neither a consent to nor a token of the client.
func (p *Provider) RevokeConsent(r *http.Request, userID, clientID string) error {
	ctx := r.Context()
	var scopes, resources []string
	c, err := p.stores.Consents.GetConsent(ctx, userID, clientID)
	switch {
	case err == nil:
		scopes, resources = c.Scopes, c.Resources
		if err := p.stores.Consents.DeleteConsent(ctx, userID, clientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	case !errors.Is(err, storage.ErrNotFound):
		return err
	}
	n, err := p.stores.Tokens.RevokeUserClientTokens(ctx, userID, clientID)
	if err != nil {
		return err
	}
	if c == nil && n == 0 {
		return storage.ErrNotFound
	}
	return p.appendConsentEvent(r, userID, clientID, storage.ConsentRevoked, scopes, resources)
}
