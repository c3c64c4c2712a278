package authz

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/atrium-id/atrium/internal/config"
)

// Request objects by reference (OpenID Connect Core §6.2, RFC 9101 §5.2).
// A request_uri at /authorize that /par did not issue is a URL where the
// client publishes its request object. Only URLs the client registered
// (request_uris, compared whole; discovery says
// require_request_uri_registration) are fetched, so a request cannot make
// the provider fetch an address of the requester's choosing. The object is
// fetched at each use, never cached (it is usually made for one request):
//
//   - one GET, bounded by requestURITimeout, following no redirect, reading
//     at most requestURIMaxBytes;
//   - for a client registered over HTTP or described by a document, from
//     public addresses only, unless the configuration allows private ones
//     for such clients (publicOnly); the operator's clients are not
//     limited;
//   - at most requestURIFetches at once; past that the request is answered
//     temporarily_unavailable rather than queued.
//
// What it holds is then verified as a request object sent by value
// (jar.go).
const (
	requestURITimeout  = 5 * time.Second
	requestURIMaxBytes = 64 << 10
	requestURIFetches  = 64
)

type requestURIFetcher struct {
	client, public *http.Client
	slots          chan struct{}
}

func newRequestURIFetcher() *requestURIFetcher {
	return &requestURIFetcher{
		client: outboundClient(requestURITimeout, false),
		public: outboundClient(requestURITimeout, true),
		slots:  make(chan struct{}, requestURIFetches),
	}
}

// referencedRequest returns the request object the client clientID
// published at requestURI.
func (p *Provider) referencedRequest(ctx context.Context, clientID, requestURI string) (string, error) {
	if len(requestURI) > config.MaxRequestURILength {
		return "", fosite.ErrInvalidRequestURI.WithHintf("A request_uri is at most %d characters long.", config.MaxRequestURILength)
	}
	cl, err := p.requestClient(ctx, clientID, "request_uri")
	if err != nil {
		return "", err
	}
	if !slices.Contains(cl.c.RequestURIs, requestURI) {
		return "", fosite.ErrInvalidRequestURI.WithHint("The request_uri is not one the client registered in its request_uris.")
	}
	f := p.requestURIs
	select {
	case f.slots <- struct{}{}:
		defer func() { <-f.slots }()
	default:
		return "", fosite.ErrTemporarilyUnavailable.WithHint("Too many request objects are being fetched; try again.")
	}
	hc := f.client
	if p.publicOnly(cl.c) {
		hc = f.public
	}
	body, _, err := outboundGet(ctx, hc, requestURI, "application/oauth-authz-req+jwt, application/jwt", requestURIMaxBytes)
	if err != nil {
		return "", fosite.ErrInvalidRequestURI.WithHint("The request object could not be fetched from the request_uri: " + err.Error() + ".").WithDebug(err.Error())
	}
	return strings.TrimSpace(string(body)), nil
}

// requestClient is the client clientID of a request carrying param
// (request or request_uri).
func (p *Provider) requestClient(ctx context.Context, clientID, param string) (*client, error) {
	if clientID == "" {
		return nil, fosite.ErrInvalidRequest.WithHint("client_id is required with " + param + ".")
	}
	fc, err := p.store.GetClient(ctx, clientID)
	if err != nil {
		// fosite reports the unknown client.
		return nil, fosite.ErrInvalidClient.WithHint("The requested client does not exist.").WithWrap(err)
	}
	cl, ok := fc.(*client)
	if !ok {
		return nil, fosite.ErrServerError.WithDebug("client of an unexpected type")
	}
	return cl, nil
}
