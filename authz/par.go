package authz

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/atrium-id/atrium/storage"
)

// Pushed authorization requests (RFC 9126). A client posts the parameters
// of an authorization request to /par, authenticated as at the token
// endpoint; they are validated as at /authorize (a request object among
// them is resolved first, jar.go) and stored in the state store
// (storage.KindPAR, fositeStore.CreatePARSession) under a random
// request_uri, which the answer gives with its lifespan. The client then
// sends the browser to /authorize with only client_id and that request_uri:
// the pushed parameters replace whatever else the browser brings, and the
// request_uri is spent, so it serves one authorization request. The
// interaction stores the parameters it resolved to, so the sign-in and
// consent steps never redeem it again.

// PAR configures pushed authorization requests.
type PAR struct {
	// Required refuses authorization requests whose parameters were not
	// pushed first; default false.
	Required bool
	// Lifespan is how long a request_uri can be used; default one minute.
	Lifespan time.Duration
}

// parURIPrefix starts every request_uri /par issues.
const parURIPrefix = "urn:ietf:params:oauth:request_uri:"

// authorizeFrom is where the parameters of an authorization request come
// from, which decides how request and request_uri are treated.
type authorizeFrom int

const (
	// fromBrowser is /authorize: a request object is resolved, a
	// request_uri is redeemed, and PAR.Required is enforced.
	fromBrowser authorizeFrom = iota
	// fromPush is /par, whose client is authenticated: a request object
	// is resolved, a request_uri refused.
	fromPush
	// fromInteraction is a stored interaction resuming: its parameters
	// were resolved when it began.
	fromInteraction
)

// par serves the pushed authorization request endpoint.
func (p *Provider) par(w http.ResponseWriter, r *http.Request) {
	ctx := withClientMemo(r.Context())
	cl, ok := p.formClient(ctx, w, r)
	if !ok {
		return
	}
	r.Form.Set("client_id", cl.GetID())
	if err := p.parDPoP(ctx, w, r); err != nil {
		p.writeTokenError(w, r, err)
		return
	}
	ar, err := p.newAuthorizeRequest(ctx, r, fromPush)
	if err != nil {
		p.writeTokenError(w, r, err)
		return
	}
	resp, err := p.oauth.NewPushedAuthorizeResponse(ctx, ar, newSession())
	if err != nil {
		p.writeTokenError(w, r, err)
		return
	}
	p.oauth.WritePushedAuthorizeResponse(ctx, w, ar, resp)
}

// formClient authenticates the client of a form POSTed to an endpoint
// that authenticates clients as the token endpoint does (/par,
// /device_authorization). When that fails, or client_id names another
// client, it answers the error and reports false.
func (p *Provider) formClient(ctx context.Context, w http.ResponseWriter, r *http.Request) (fosite.Client, bool) {
	if err := r.ParseForm(); err != nil {
		p.writeTokenError(w, r, fosite.ErrInvalidRequest.WithHint("The request could not be parsed."))
		return nil, false
	}
	cl, err := p.fosite.AuthenticateClient(ctx, r, r.PostForm)
	if err != nil {
		var rfc *fosite.RFC6749Error
		if !errors.Is(err, storage.ErrUnavailable) && (!errors.As(err, &rfc) || rfc.ErrorField != fosite.ErrInvalidClient.ErrorField) {
			// As at the token endpoint: an assertion's claim errors
			// reach here unwrapped.
			err = fosite.ErrInvalidClient.WithHint("The client could not be authenticated.").WithWrap(err).WithDebug(err.Error())
		}
		p.writeTokenError(w, r, err)
		return nil, false
	}
	if id := r.Form.Get("client_id"); id != "" && id != cl.GetID() {
		p.writeTokenError(w, r, fosite.ErrInvalidRequest.WithHint("client_id is not the authenticated client."))
		return nil, false
	}
	return cl, true
}

// pushedRequest redeems a request_uri of /par for the client clientID and
// returns the parameters pushed with it.
func (p *Provider) pushedRequest(ctx context.Context, clientID, requestURI string) (url.Values, error) {
	ar, err := p.store.GetPARSession(ctx, requestURI)
	switch {
	case errors.Is(err, errPARSpent):
		return nil, fosite.ErrInvalidRequestURI.WithHint("The request_uri has already been used.")
	case errors.Is(err, storage.ErrUnavailable):
		return nil, err
	case err != nil:
		return nil, fosite.ErrInvalidRequestURI.WithHint("The request_uri is unknown or expired.").WithWrap(err).WithDebug(err.Error())
	case clientID == "":
		return nil, fosite.ErrInvalidRequest.WithHint("client_id is required with a request_uri.")
	case ar.GetClient().GetID() != clientID:
		// Checked before it is spent: the client that pushed it can
		// still use it.
		return nil, fosite.ErrInvalidRequestURI.WithHint("The request_uri was pushed by another client.")
	}
	if err := p.store.DeletePARSession(ctx, requestURI); err != nil {
		if errors.Is(err, errPARSpent) || errors.Is(err, fosite.ErrNotFound) {
			return nil, fosite.ErrInvalidRequestURI.WithHint("The request_uri has already been used.")
		}
		return nil, err
	}
	return ar.GetRequestForm(), nil
}

// resolveRequest replaces r.Form with the parameters of the pushed request
// reqURI names, or merges into it those of the request object reqObj
// (jar.go), as from allows. It enforces PAR.Required.
func (p *Provider) resolveRequest(ctx context.Context, r *http.Request, from authorizeFrom, reqObj, reqURI string) error {
	switch {
	case from == fromInteraction:
		return nil
	case reqObj != "" && reqURI != "":
		return fosite.ErrInvalidRequest.WithHint("request and request_uri cannot be used together.")
	case reqURI != "" && from == fromPush:
		return fosite.ErrInvalidRequest.WithHint("A pushed authorization request cannot carry a request_uri.")
	case strings.HasPrefix(reqURI, parURIPrefix):
		// RFC 9126 §4: the browser's other parameters are ignored.
		form, err := p.pushedRequest(ctx, r.Form.Get("client_id"), reqURI)
		if err != nil {
			return err
		}
		r.Form = form
	case from == fromBrowser && p.cfg.PAR.Required:
		// A request object by value or by reference too: only /par may
		// bring parameters.
		return fosite.ErrInvalidRequest.WithHint("Authorization requests must first be pushed to the pushed authorization request endpoint.")
	case reqURI != "":
		raw, err := p.referencedRequest(ctx, r.Form.Get("client_id"), reqURI)
		if err != nil {
			return err
		}
		return p.applyRequestObject(ctx, r.Form, raw)
	case reqObj != "":
		return p.applyRequestObject(ctx, r.Form, reqObj)
	}
	return nil
}
