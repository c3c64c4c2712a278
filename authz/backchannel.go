package authz

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/atrium-id/atrium/authz/keys"
	"github.com/atrium-id/atrium/storage"
)

// Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when an
// SSO session ends, every client that took part in it (Session.Clients)
// and registered a backchannel_logout_uri gets a logout token POSTed to
// that URI, from this node, in the background:
//
//   - the token is a JWT signed like the client's ID tokens, typ
//     logout+jwt, with iss, aud (the client), iat, exp (two minutes
//     later), jti, the back-channel logout event, sub and sid (always:
//     ID tokens carry sid);
//   - each client gets up to backchannelAttempts attempts, each bounded
//     by backchannelTimeout, the next after a wait that grows
//     (backchannel.retry). A 2xx answer delivers it; a 4xx other than 408
//     and 429 means the client refused the token, which sending it again
//     would not change; anything else is tried again;
//   - the logout endpoint waits for the deliveries at most logoutWait
//     before it answers the browser; the account area does not wait.
//
// Deliveries live in this process only: a restart drops those still
// being retried, and those clients do not hear of the logout.
const (
	eventBackchannelLogout = "http://schemas.openid.net/event/backchannel-logout"
	logoutTokenLifespan    = 2 * time.Minute
	backchannelTimeout     = 5 * time.Second
	backchannelAttempts    = 4
	logoutWait             = 2 * time.Second
)

// backchannel sends logout tokens.
type backchannel struct {
	// client sends to the clients the operator registered; public to
	// those registered over HTTP, and only to public addresses unless
	// Registration.AllowPrivateNetwork.
	client, public *http.Client
	// retry is the wait before attempt n+1, after n attempts failed.
	retry func(n int) time.Duration
	// pending counts the deliveries still running (wait).
	pending sync.WaitGroup
}

func newBackchannel() *backchannel {
	return &backchannel{
		// A logout URI that redirects is not followed: the token is for
		// that URI only.
		client: outboundClient(backchannelTimeout, false),
		public: outboundClient(backchannelTimeout, true),
		// 1s, 4s, 16s: the last attempt starts well within the token's
		// two minutes.
		retry: func(n int) time.Duration { return time.Second << (2 * (n - 1)) },
	}
}

// wait blocks until every delivery started so far is done.
func (b *backchannel) wait() { b.pending.Wait() }

// logoutDelivery is one logout token on its way to one client.
type logoutDelivery struct {
	clientID string
	uri      string
	token    string
	// public sends only to a public address (outboundClient).
	public bool
}

// backchannelLogout sends a logout token for the ended session s to each
// of its clients with a back-channel logout URI. It returns at once; the
// channel is closed when every delivery is done (delivered or given up).
func (p *Provider) backchannelLogout(ctx context.Context, s *storage.Session) <-chan struct{} {
	done := make(chan struct{})
	var deliveries []logoutDelivery
	for _, c := range p.sessionClients(ctx, s) {
		if c.BackchannelLogoutURI == "" {
			continue
		}
		token, err := p.logoutToken(ctx, c, s)
		if err != nil {
			p.log.ErrorContext(ctx, "back-channel logout: signing the logout token failed", "client_id", c.ID, "err", err)
			continue
		}
		deliveries = append(deliveries, logoutDelivery{clientID: c.ID, uri: c.BackchannelLogoutURI, token: token,
			public: c.Registration == registrationDynamic && !p.cfg.Registration.AllowPrivateNetwork ||
				c.Registration == registrationDocument && !p.cfg.ClientIDMetadata.AllowPrivateNetwork})
	}
	if len(deliveries) == 0 {
		close(done)
		return done
	}
	ctx = context.WithoutCancel(ctx)
	var all sync.WaitGroup
	for _, d := range deliveries {
		all.Add(1)
		p.logouts.pending.Add(1)
		go func() {
			defer p.logouts.pending.Done()
			defer all.Done()
			p.deliverLogout(ctx, d)
		}()
	}
	go func() {
		all.Wait()
		close(done)
	}()
	return done
}

// sessionClients are the clients of s that still exist, in the order
// they joined it.
func (p *Provider) sessionClients(ctx context.Context, s *storage.Session) []*storage.Client {
	var out []*storage.Client
	for _, id := range s.Clients {
		c, err := p.stores.Clients.GetClient(ctx, id)
		if err != nil {
			if !errors.Is(err, storage.ErrNotFound) {
				p.log.WarnContext(ctx, "logout: reading a client of the session failed", "client_id", id, "err", err)
			}
			continue
		}
		out = append(out, c)
	}
	return out
}

// logoutToken is the logout token of session s for client c.
func (p *Provider) logoutToken(ctx context.Context, c *storage.Client, s *storage.Session) (string, error) {
	now := p.now()
	claims := jwt.MapClaims{
		"iss":    p.cfg.Issuer,
		"aud":    c.ID,
		"iat":    now.Unix(),
		"exp":    now.Add(logoutTokenLifespan).Unix(),
		"jti":    randomToken(),
		"sub":    s.UserID,
		"sid":    sid(s.ID),
		"events": map[string]any{eventBackchannelLogout: map[string]any{}},
	}
	header := &jwt.Headers{Extra: map[string]any{"typ": "logout+jwt"}}
	if c.IDTokenSignedResponseAlg != "" {
		header.Extra[keys.AlgorithmHeader] = c.IDTokenSignedResponseAlg
	}
	token, _, err := p.keys.Signer().Generate(ctx, claims, header)
	return token, err
}

// deliverLogout POSTs d's logout token until the client takes it, refuses
// it, or the attempts run out.
func (p *Provider) deliverLogout(ctx context.Context, d logoutDelivery) {
	for n := 1; ; n++ {
		status, err := p.postLogoutToken(ctx, d)
		switch {
		case err == nil && status >= 200 && status < 300:
			p.log.InfoContext(ctx, "back-channel logout delivered", "client_id", d.clientID, "attempt", n)
			return
		case err == nil && status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			p.log.WarnContext(ctx, "back-channel logout refused by the client", "client_id", d.clientID, "status", status)
			return
		case n == backchannelAttempts:
			p.log.WarnContext(ctx, "back-channel logout not delivered; giving up", "client_id", d.clientID,
				"attempts", n, "status", status, "err", err)
			return
		}
		t := time.NewTimer(p.logouts.retry(n))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// postLogoutToken makes one attempt and returns the answer's status.
func (p *Provider) postLogoutToken(ctx context.Context, d logoutDelivery) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, backchannelTimeout)
	defer cancel()
	body := url.Values{"logout_token": {d.token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.uri, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := p.logouts.client
	if d.public {
		client = p.logouts.public
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
