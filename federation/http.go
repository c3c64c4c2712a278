package federation

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

const (
	// DefaultTimeout bounds each upstream request when New gets no client.
	DefaultTimeout = 10 * time.Second
	// maxBody caps every upstream response body.
	maxBody = 1 << 20
)

var errBodyTooLarge = errors.New("upstream response larger than 1 MiB")

// upstreamClient returns a copy of c (or a default client) whose responses
// are capped at maxBody, so that go-oidc and x/oauth2 read through the cap too.
func upstreamClient(c *http.Client) *http.Client {
	if c == nil {
		c = &http.Client{Timeout: DefaultTimeout}
	}
	cc := *c
	base := cc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cc.Transport = capTransport{base}
	return &cc
}

type capTransport struct{ base http.RoundTripper }

func (t capTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &capBody{rc: resp.Body, left: maxBody}
	return resp, nil
}

type capBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *capBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more than the cap tells a full body from a long one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, errBodyTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *capBody) Close() error { return b.rc.Close() }

// clientContext makes go-oidc and x/oauth2 use client.
func clientContext(ctx context.Context, client *http.Client) context.Context {
	return oidc.ClientContext(ctx, client)
}

// getJSON fetches an upstream JSON resource with a bearer token. Errors name
// the host and path only: no query (Facebook's appsecret_proof), no token.
func getJSON(ctx context.Context, client *http.Client, rawURL, accessToken string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, errorf(ErrConfig, "bad upstream URL")
	}
	where := req.URL.Host + req.URL.Path
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error quotes the full URL; keep only its cause.
		var cause error = err
		if u := errors.Unwrap(err); u != nil {
			cause = u
		}
		return nil, newError(ErrUnavailable, "GET "+where, cause)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, newError(kindOfReadError(err), "GET "+where, err)
	}
	switch {
	case resp.StatusCode >= 500:
		return nil, errorf(ErrUnavailable, "GET %s: status %d", where, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, errorf(ErrInvalidResponse, "GET %s: status %d", where, resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/html" {
		return nil, errorf(ErrInvalidResponse, "GET %s: got HTML, not JSON", where)
	}
	return body, nil
}

func kindOfReadError(err error) Kind {
	if errors.Is(err, errBodyTooLarge) {
		return ErrInvalidResponse
	}
	return ErrUnavailable
}
