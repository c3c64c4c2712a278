package authz

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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
// that URI:
//
//   - the token is a JWT signed like the client's ID tokens, typ
//     logout+jwt, with iss, aud (the client), iat, exp (two minutes
//     later), jti, the back-channel logout event, sub and sid (always:
//     ID tokens carry sid). It is signed when it is sent, so every
//     attempt carries a fresh iat, exp and jti;
//   - a 2xx answer delivers it; a 4xx other than 408 and 429 means the
//     client refused the token, which sending it again would not change;
//     so does a logout URI that must be public (outbound.go) and is not;
//     anything else (no answer within backchannelTimeout, 408, 429, 5xx)
//     is tried again;
//   - the logout endpoint waits for the first attempts at most logoutWait
//     before it answers the browser; the account area does not wait.
//
// With Stores.Outbox, deliveries are durable: before the first attempt,
// one outbox message per client (storage.TopicBackchannelLogout: the
// client, the user and the sid; no token) is written, leased to this
// node, which makes the first attempt at once. A message delivered or
// refused is marked delivered (and pruned with the webhooks' messages);
// one that failed waits for a worker (RunBackchannel, on every node;
// leases make each message go from one node at a time), which tries
// again with a growing wait (backchannel.backoff) until backchannelGiveUp
// after the session ended, then logs that it gives up and marks it done.
// A restart loses nothing: a message a stopped node held is taken by a
// worker once its lease runs out.
//
// Without an outbox, deliveries live in this process only: each client
// gets up to backchannelAttempts attempts, the next after a wait that
// grows (backchannel.retry), and a restart drops those still being
// retried.
const (
	eventBackchannelLogout = "http://schemas.openid.net/event/backchannel-logout"
	logoutTokenLifespan    = 2 * time.Minute
	backchannelTimeout     = 5 * time.Second
	backchannelAttempts    = 4
	logoutWait             = 2 * time.Second
	// backchannelGiveUp is how long after the session ended a logout is
	// still tried: an app that has not heard of it by then has most
	// likely ended its own session.
	backchannelGiveUp = time.Hour
	// backchannelInterval is how often the worker looks for logouts due.
	backchannelInterval = 5 * time.Second
	// backchannelLease covers one attempt and its bookkeeping.
	backchannelLease = backchannelTimeout + 30*time.Second
	// backchannelBatch is how many logouts the worker sends at once.
	backchannelBatch = 16
	// backchannelBookkeeping bounds the store writes after an attempt,
	// which run even when the worker is stopping.
	backchannelBookkeeping = 5 * time.Second
)

// backchannel sends logout tokens.
type backchannel struct {
	// client sends to the clients the operator registered; public to
	// those registered over HTTP, and only to public addresses unless
	// Registration.AllowPrivateNetwork.
	client, public *http.Client
	// retry is the wait before attempt n+1, after n attempts failed
	// (without an outbox).
	retry func(n int) time.Duration
	// backoff is the wait after a durable delivery's failed attempt, when
	// attempts attempts failed before it.
	backoff func(attempts int) time.Duration
	// interval is how often RunBackchannel looks for logouts due.
	interval time.Duration
	// owner names this provider in the leases of the outbox messages it
	// holds.
	owner string
	// pending counts the deliveries still running (wait).
	pending sync.WaitGroup
}

func newBackchannel() *backchannel {
	var r [12]byte
	_, _ = rand.Read(r[:])
	return &backchannel{
		// A logout URI that redirects is not followed: the token is for
		// that URI only.
		client: outboundClient(backchannelTimeout, false),
		public: outboundClient(backchannelTimeout, true),
		// 1s, 4s, 16s: the last attempt starts well within the token's
		// two minutes.
		retry: func(n int) time.Duration { return time.Second << (2 * (n - 1)) },
		// 10s, doubling up to 10 minutes: about a dozen attempts within
		// backchannelGiveUp.
		backoff: func(attempts int) time.Duration {
			return min(10*time.Second<<min(attempts, 10), 10*time.Minute)
		},
		interval: backchannelInterval,
		owner:    "logout-" + hex.EncodeToString(r[:]),
	}
}

// wait blocks until every delivery started so far is done.
func (b *backchannel) wait() { b.pending.Wait() }

// WaitBackchannel waits at most d for the back-channel logouts being
// sent (the first attempts, and the worker's) to finish, so a shutdown
// does not cut them off; it reports whether they all did. With an outbox
// those still running are tried again by a worker anyway.
func (p *Provider) WaitBackchannel(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		p.logouts.wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// logoutSubject is whom a logout token is about.
type logoutSubject struct {
	// UserID is the user; SID the session's sid (sid), never its ID.
	UserID string `json:"sub"`
	SID    string `json:"sid"`
}

// logoutMessage is the payload of a storage.TopicBackchannelLogout
// message.
type logoutMessage struct {
	ClientID string `json:"client_id"`
	logoutSubject
}

// logoutDelivery is one logout on its way to one client.
type logoutDelivery struct {
	client *storage.Client
	s      logoutSubject
	// msg is its outbox message; nil without one.
	msg *storage.OutboxMessage
}

// LogoutSessions tells the apps of the sessions, which have ended, that
// they did (back-channel logout), without waiting for them: account
// deletion ends every session of the user this way. Sessions of several
// users may be mixed. It fails only when an outbox message could not be
// written; the deliveries whose message was written go on regardless.
func (p *Provider) LogoutSessions(ctx context.Context, sessions []*storage.Session) error {
	var errs []error
	for _, s := range sessions {
		_, err := p.startLogout(ctx, s)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// backchannelLogout sends a logout token for the ended session s to each
// of its clients with a back-channel logout URI. It returns at once; the
// channel is closed when every first attempt is done (without an outbox,
// every delivery: delivered or given up).
func (p *Provider) backchannelLogout(ctx context.Context, s *storage.Session) <-chan struct{} {
	done, _ := p.startLogout(ctx, s)
	return done
}

// startLogout is backchannelLogout; it also reports a failure to write an
// outbox message (that delivery is then made from this process only).
func (p *Provider) startLogout(ctx context.Context, s *storage.Session) (<-chan struct{}, error) {
	done := make(chan struct{})
	subject := logoutSubject{UserID: s.UserID, SID: sid(s.ID)}
	var (
		deliveries []logoutDelivery
		errs       []error
	)
	for _, c := range p.sessionClients(ctx, s) {
		if c.BackchannelLogoutURI == "" {
			continue
		}
		d := logoutDelivery{client: c, s: subject}
		if p.stores.Outbox != nil {
			m, err := p.stores.Outbox.AddOutbox(ctx, storage.TopicBackchannelLogout, logoutPayload(c.ID, subject), p.logouts.owner, backchannelLease)
			if err != nil {
				p.log.ErrorContext(ctx, "back-channel logout: writing it to the outbox failed; sending it from this process only", "client_id", c.ID, "err", err)
				errs = append(errs, err)
			}
			d.msg = m
		}
		deliveries = append(deliveries, d)
	}
	if len(deliveries) == 0 {
		close(done)
		return done, errors.Join(errs...)
	}
	ctx = context.WithoutCancel(ctx)
	var all sync.WaitGroup
	for _, d := range deliveries {
		all.Add(1)
		p.logouts.pending.Add(1)
		go func() {
			defer p.logouts.pending.Done()
			defer all.Done()
			if d.msg != nil {
				p.attemptLogout(ctx, d)
			} else {
				p.deliverLogout(ctx, d)
			}
		}()
	}
	go func() {
		all.Wait()
		close(done)
	}()
	return done, errors.Join(errs...)
}

// logoutPayload is the outbox payload of a logout of s for clientID.
func logoutPayload(clientID string, s logoutSubject) []byte {
	b, _ := json.Marshal(logoutMessage{ClientID: clientID, logoutSubject: s}) // strings always marshal
	return b
}

// LogoutQueue writes back-channel logouts to the outbox without sending
// them, for the workers of the servers (RunBackchannel) to deliver: what
// commands that run without a provider (atrium users delete) use.
type LogoutQueue struct {
	Clients storage.ClientStore
	Outbox  storage.OutboxStore
}

// LogoutSessions writes a logout for each client with a back-channel
// logout URI of each of the sessions, which have ended.
func (q LogoutQueue) LogoutSessions(ctx context.Context, sessions []*storage.Session) error {
	for _, s := range sessions {
		for _, id := range s.Clients {
			c, err := q.Clients.GetClient(ctx, id)
			if errors.Is(err, storage.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if c.BackchannelLogoutURI == "" {
				continue
			}
			payload := logoutPayload(c.ID, logoutSubject{UserID: s.UserID, SID: sid(s.ID)})
			if _, err := q.Outbox.AddOutbox(ctx, storage.TopicBackchannelLogout, payload, "", 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// EndUserSessions ends every SSO session of the user as the account
// area's "sign out everywhere" does, revoking the tokens issued under
// each, and writes their back-channel logouts (LogoutSessions). The
// sessions are listed before they go; one started meanwhile is ended
// too, its tokens left. It reports how many sessions it ended.
func (q LogoutQueue) EndUserSessions(ctx context.Context, sessions storage.SessionStore, tokens storage.TokenStore, userID string) (int, error) {
	list, err := sessions.ListUserSessions(ctx, userID)
	if err != nil {
		return 0, err
	}
	var ended []*storage.Session
	for _, s := range list {
		if err := sessions.DeleteSession(ctx, s.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return len(ended), err
		}
		if _, err := tokens.RevokeSessionTokens(ctx, s.UserID, sid(s.ID)); err != nil {
			return len(ended), err
		}
		ended = append(ended, s)
	}
	n, err := sessions.DeleteUserSessions(ctx, userID)
	if err != nil {
		return len(ended), err
	}
	return len(ended) + n, q.LogoutSessions(ctx, ended)
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

// logoutToken is the logout token of s for client c.
func (p *Provider) logoutToken(ctx context.Context, c *storage.Client, s logoutSubject) (string, error) {
	now := p.now()
	claims := jwt.MapClaims{
		"iss":    p.cfg.Issuer,
		"aud":    c.ID,
		"iat":    now.Unix(),
		"exp":    now.Add(logoutTokenLifespan).Unix(),
		"jti":    randomToken(),
		"sub":    p.subjectFor(c, s.UserID),
		"sid":    s.SID,
		"events": map[string]any{eventBackchannelLogout: map[string]any{}},
	}
	header := &jwt.Headers{Extra: map[string]any{"typ": "logout+jwt"}}
	if c.IDTokenSignedResponseAlg != "" {
		header.Extra[keys.AlgorithmHeader] = c.IDTokenSignedResponseAlg
	}
	token, _, err := p.keys.Signer().Generate(ctx, claims, header)
	return token, err
}

// logoutOutcome is how one attempt went.
type logoutOutcome int

const (
	logoutDelivered logoutOutcome = iota
	// logoutRefused: the client answered 4xx (not 408 or 429).
	logoutRefused
	// logoutFailed: no answer, or one worth trying again.
	logoutFailed
)

// attemptLogout signs d's logout token and POSTs it once. It logs the
// outcome, with status and err for a failure.
func (p *Provider) attemptLogout(ctx context.Context, d logoutDelivery) (logoutOutcome, int, error) {
	token, err := p.logoutToken(ctx, d.client, d.s)
	if err != nil {
		p.log.ErrorContext(ctx, "back-channel logout: signing the logout token failed", "client_id", d.client.ID, "err", err)
		return p.settle(ctx, d, logoutFailed), 0, err
	}
	status, err := p.postLogoutToken(ctx, d, token)
	switch {
	case err == nil && status >= 200 && status < 300:
		p.log.InfoContext(ctx, "back-channel logout delivered", "client_id", d.client.ID, "attempt", d.attempt())
		return p.settle(ctx, d, logoutDelivered), status, nil
	case err == nil && status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
		p.log.WarnContext(ctx, "back-channel logout refused by the client", "client_id", d.client.ID, "status", status)
		return p.settle(ctx, d, logoutRefused), status, nil
	case errors.Is(err, errPrivateTarget):
		// Not the answer's doing: trying again reaches the same address.
		p.log.WarnContext(ctx, "back-channel logout not sent: the logout URI is not on a public address", "client_id", d.client.ID, "err", err)
		return p.settle(ctx, d, logoutRefused), 0, err
	}
	if d.msg != nil {
		p.log.InfoContext(ctx, "back-channel logout attempt failed", "client_id", d.client.ID, "attempt", d.attempt(), "status", status, "err", err)
	}
	return p.settle(ctx, d, logoutFailed), status, err
}

// attempt is the number of d's attempt being made.
func (d logoutDelivery) attempt() int {
	if d.msg == nil {
		return 0
	}
	return d.msg.Attempts + 1
}

// settle records how d's attempt went in its outbox message: done
// (delivered, refused, or given up once backchannelGiveUp has passed
// since it was written), or to be tried again after its backoff. Without
// a message it only returns outcome.
func (p *Provider) settle(ctx context.Context, d logoutDelivery, outcome logoutOutcome) logoutOutcome {
	if d.msg == nil {
		return outcome
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backchannelBookkeeping)
	defer cancel()
	delay := p.logouts.backoff(d.msg.Attempts)
	if outcome == logoutFailed && p.now().Add(delay).Sub(d.msg.CreatedAt) > backchannelGiveUp {
		p.log.WarnContext(ctx, "back-channel logout not delivered; giving up", "client_id", d.client.ID,
			"attempts", d.msg.Attempts+1, "since", d.msg.CreatedAt)
		outcome = logoutRefused // done
	}
	if outcome == logoutFailed {
		if err := p.stores.Outbox.RetryOutbox(ctx, d.msg.ID, p.logouts.owner, delay); err != nil {
			p.log.WarnContext(ctx, "back-channel logout: deferring the next attempt failed", "client_id", d.client.ID, "message_id", d.msg.ID, "err", err)
		}
		return outcome
	}
	if err := p.stores.Outbox.MarkDelivered(ctx, d.msg.ID); err != nil {
		p.log.WarnContext(ctx, "back-channel logout: marking it done failed", "client_id", d.client.ID, "message_id", d.msg.ID, "err", err)
	}
	return outcome
}

// deliverLogout makes the attempts of a delivery without an outbox
// message: until the client takes the token, refuses it, or the attempts
// run out.
func (p *Provider) deliverLogout(ctx context.Context, d logoutDelivery) {
	for n := 1; ; n++ {
		outcome, status, err := p.attemptLogout(ctx, d)
		if outcome != logoutFailed {
			return
		}
		if n == backchannelAttempts {
			p.log.WarnContext(ctx, "back-channel logout not delivered; giving up", "client_id", d.client.ID,
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
func (p *Provider) postLogoutToken(ctx context.Context, d logoutDelivery, token string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, backchannelTimeout)
	defer cancel()
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.client.BackchannelLogoutURI, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := p.logouts.client
	if p.publicOnly(d.client) {
		client = p.logouts.public
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// RunBackchannel delivers the back-channel logouts of the outbox that are
// due (their first attempt failed, or the node making it stopped) every
// interval, until ctx is done. Every node runs it; leases make each
// message go from one at a time. Without an outbox it returns at once.
func (p *Provider) RunBackchannel(ctx context.Context) {
	if p.stores.Outbox == nil {
		return
	}
	t := time.NewTicker(p.logouts.interval)
	defer t.Stop()
	for {
		if _, err := p.deliverDueLogouts(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("back-channel logout: reading the logouts due failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// deliverDueLogouts claims the logouts due, backchannelBatch at a time,
// and makes one attempt of each, until none is left or ctx is done. It
// reports how many it settled (delivered, refused or given up).
func (p *Provider) deliverDueLogouts(ctx context.Context) (int, error) {
	settled := 0
	for ctx.Err() == nil {
		msgs, err := p.stores.Outbox.ClaimOutbox(ctx, p.logouts.owner, []string{storage.TopicBackchannelLogout}, backchannelLease, backchannelBatch)
		if err != nil || len(msgs) == 0 {
			return settled, err
		}
		var (
			wg sync.WaitGroup
			mu sync.Mutex
		)
		sendCtx := context.WithoutCancel(ctx)
		for _, m := range msgs {
			p.logouts.pending.Add(1)
			wg.Go(func() {
				defer p.logouts.pending.Done()
				if p.redeliver(sendCtx, m) != logoutFailed {
					mu.Lock()
					settled++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	return settled, nil
}

// redeliver makes one attempt of the claimed message m. A message whose
// client is gone, or no longer has a back-channel logout URI, is done.
func (p *Provider) redeliver(ctx context.Context, m *storage.OutboxMessage) logoutOutcome {
	var lm logoutMessage
	if err := json.Unmarshal(m.Payload, &lm); err != nil || lm.ClientID == "" {
		p.log.ErrorContext(ctx, "back-channel logout: unreadable outbox message; dropping it", "message_id", m.ID)
		return p.settle(ctx, logoutDelivery{client: &storage.Client{}, msg: m}, logoutRefused)
	}
	c, err := p.stores.Clients.GetClient(ctx, lm.ClientID)
	switch {
	case errors.Is(err, storage.ErrNotFound) || (err == nil && c.BackchannelLogoutURI == ""):
		p.log.InfoContext(ctx, "back-channel logout: the client is gone or no longer takes logouts; dropping it", "client_id", lm.ClientID)
		return p.settle(ctx, logoutDelivery{client: &storage.Client{ID: lm.ClientID}, msg: m}, logoutRefused)
	case err != nil:
		p.log.WarnContext(ctx, "back-channel logout: reading the client failed", "client_id", lm.ClientID, "err", err)
		return p.settle(ctx, logoutDelivery{client: &storage.Client{ID: lm.ClientID}, msg: m}, logoutFailed)
	}
	outcome, _, _ := p.attemptLogout(ctx, logoutDelivery{client: c, s: lm.logoutSubject, msg: m})
	return outcome
}
