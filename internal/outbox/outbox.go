package outbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// Defaults and limits of the worker.
const (
	// DefaultInterval is how often the worker looks for messages due.
	DefaultInterval = 5 * time.Second
	// DefaultRetention is how long delivered messages are kept.
	DefaultRetention = 30 * 24 * time.Hour
	// Timeout bounds one request to a hook, answer included.
	Timeout = 10 * time.Second
	// PruneEvery is how often delivered messages past their retention
	// are deleted.
	PruneEvery = time.Hour
	// FirstRetry is the wait after a message's first failed attempt; it
	// doubles with each further failure up to MaxRetry.
	FirstRetry = 30 * time.Second
	MaxRetry   = time.Hour
)

// maxPerPass bounds the messages one DeliverDue sends, so pruning and
// shutdown get their turn.
const maxPerPass = 1000

// Hook is a downstream system's webhook endpoint.
type Hook struct {
	URL string
	// Key is the HMAC key of the signatures (ParseSecret).
	Key []byte
	// Topics are the topics it gets; nil for every one of storage.Topics.
	Topics []string
}

// Config configures a Worker.
type Config struct {
	Store storage.OutboxStore
	Hooks []Hook
	// Retention is how long a delivered message is kept; 0 means
	// DefaultRetention.
	Retention time.Duration
	// Interval is how often Run looks for messages due; 0 means
	// DefaultInterval.
	Interval time.Duration
	// Client sends the requests; nil for one with Timeout that does not
	// follow redirects.
	Client *http.Client
	// Now is the clock of timestamps and pruning (time.Now by default);
	// when a retry is due is the store's to judge, by its own clock.
	Now func() time.Time
	Log *slog.Logger
}

// Worker delivers the outbox to the hooks and prunes it.
type Worker struct {
	store     storage.OutboxStore
	hooks     []hook
	topics    []string // of every hook
	retention time.Duration
	interval  time.Duration
	client    *http.Client
	now       func() time.Time
	log       *slog.Logger
	// owner names this worker in the leases of the messages it claims.
	owner string
	// lease covers sending one message to every hook.
	lease time.Duration
}

// hook is a Hook with what the worker derives from it.
type hook struct {
	Hook
	// name is what the store records the hook's progress under: a digest
	// of the URL, which may carry a credential of the receiver's.
	name string
	// host is how the log names it.
	host string
}

// New returns a worker; it does nothing until Run or DeliverDue.
func New(cfg Config) (*Worker, error) {
	if cfg.Store == nil {
		return nil, errors.New("outbox: no store")
	}
	w := &Worker{
		store:     cfg.Store,
		retention: orDefault(cfg.Retention, DefaultRetention),
		interval:  orDefault(cfg.Interval, DefaultInterval),
		client:    cfg.Client,
		now:       cfg.Now,
		log:       cfg.Log,
	}
	if cfg.Retention < 0 || cfg.Interval < 0 {
		return nil, errors.New("outbox: retention and interval must not be negative")
	}
	if w.client == nil {
		w.client = &http.Client{
			Timeout:       Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	all := false
	for i, h := range cfg.Hooks {
		u, err := url.Parse(h.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("outbox: hook %d: not an absolute http(s) URL", i)
		}
		if len(h.Key) == 0 {
			return nil, fmt.Errorf("outbox: hook %d (%s): no key", i, u.Host)
		}
		sum := sha256.Sum256([]byte(h.URL))
		hk := hook{Hook: h, name: hex.EncodeToString(sum[:16]), host: u.Host}
		if slices.ContainsFunc(w.hooks, func(o hook) bool { return o.name == hk.name }) {
			return nil, fmt.Errorf("outbox: hook %d (%s): the URL is listed twice", i, u.Host)
		}
		w.hooks = append(w.hooks, hk)
		if h.Topics == nil {
			all = true
		}
		for _, t := range h.Topics {
			if !slices.Contains(w.topics, t) {
				w.topics = append(w.topics, t)
			}
		}
	}
	if all {
		// Every topic webhooks get: the outbox also carries messages
		// Atrium delivers itself (storage.TopicBackchannelLogout).
		w.topics = slices.Clone(storage.Topics)
	} else if w.topics == nil {
		w.topics = []string{}
	}
	var r [12]byte
	rand.Read(r[:])
	w.owner = hex.EncodeToString(r[:])
	w.lease = time.Duration(len(w.hooks))*Timeout + time.Minute
	return w, nil
}

// orDefault is v, or def when v is zero.
func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// Run delivers what is due every interval and prunes every PruneEvery,
// until ctx is done.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	var pruned time.Time
	for {
		if _, err := w.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("outbox: reading messages due failed", "err", err)
		}
		if now := w.now(); pruned.IsZero() || now.Sub(pruned) >= PruneEvery {
			pruned = now
			n, err := w.Prune(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				w.log.Warn("outbox: deleting delivered messages failed", "err", err)
			case n > 0:
				w.log.Debug("outbox: deleted delivered messages", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Prune deletes the messages delivered longer than the retention ago.
func (w *Worker) Prune(ctx context.Context) (int, error) {
	return w.store.PruneOutbox(ctx, w.now().Add(-w.retention))
}

// DeliverDue claims the messages due, one at a time, and sends each to
// every hook of its topic that has not taken it yet, until none is left
// (or maxPerPass). A message every such hook took is marked delivered;
// any other is deferred by its backoff. It reports how many messages it
// marked delivered; a hook's failure is logged, not returned.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	if len(w.hooks) == 0 {
		return 0, nil
	}
	delivered := 0
	for range maxPerPass {
		msgs, err := w.store.ClaimOutbox(ctx, w.owner, w.topics, w.lease, 1)
		if err != nil || len(msgs) == 0 {
			return delivered, err
		}
		if w.deliver(ctx, msgs[0]) {
			delivered++
		}
	}
	return delivered, nil
}

// envelope is the body of a request, as Standard Webhooks lays it out.
type envelope struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// bookkeepingTimeout bounds the store writes after a send, which run
// even when ctx was cancelled mid-send so that an answer is not lost.
const bookkeepingTimeout = 5 * time.Second

// deliver sends m to the hooks still due it and records the outcome; it
// reports whether m is now delivered.
func (w *Worker) deliver(ctx context.Context, m *storage.OutboxMessage) bool {
	body, err := json.Marshal(envelope{Type: m.Topic, Timestamp: m.CreatedAt.UTC().Format(time.RFC3339Nano), Data: json.RawMessage(m.Payload)})
	ok := err == nil
	if err != nil {
		w.log.Error("outbox: message payload is not JSON", "message_id", m.ID, "topic", m.Topic)
	}
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	for _, h := range w.hooks {
		if !ok || (h.Topics != nil && !slices.Contains(h.Topics, m.Topic)) || slices.Contains(m.DeliveredTo, h.name) {
			continue
		}
		status, err := w.send(ctx, h, m.ID, body)
		if err != nil {
			ok = false
			args := []any{"message_id", m.ID, "hook", h.host, "attempt", m.Attempts + 1}
			if status != 0 {
				args = append(args, "status", status)
			} else {
				args = append(args, "err", err)
			}
			w.log.Warn("outbox: webhook delivery failed", args...)
			continue
		}
		if err := w.store.MarkHookDelivered(bctx, m.ID, h.name); err != nil {
			ok = false
			w.log.Warn("outbox: recording a delivery failed", "message_id", m.ID, "hook", h.host, "err", err)
			continue
		}
		w.log.Debug("outbox: webhook delivered", "message_id", m.ID, "hook", h.host)
	}
	if ok {
		if err := w.store.MarkDelivered(bctx, m.ID); err != nil {
			w.log.Warn("outbox: marking a message delivered failed", "message_id", m.ID, "err", err)
			return false
		}
		return true
	}
	delay := Backoff(m.Attempts)
	if err := w.store.RetryOutbox(bctx, m.ID, w.owner, delay); err != nil {
		w.log.Warn("outbox: deferring a message failed", "message_id", m.ID, "err", err)
	} else {
		w.log.Info("outbox: message deferred", "message_id", m.ID, "attempts", m.Attempts+1, "retry_in", delay.String())
	}
	return false
}

// Backoff is the wait after a message's failed attempt when attempts
// attempts failed before it: FirstRetry, doubling up to MaxRetry.
func Backoff(attempts int) time.Duration {
	d := FirstRetry
	for range attempts {
		if d *= 2; d >= MaxRetry {
			return MaxRetry
		}
	}
	return d
}

// maxAnswer is how much of a hook's answer is read (and dropped), so the
// connection can be reused.
const maxAnswer = 64 << 10

// send posts body to h. It returns the status of an answer that is not
// 2xx with an error, and 0 with the error when there is no answer. The
// error never holds the URL, which may carry a credential.
func (w *Worker) send(ctx context.Context, h hook, id string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("bad request")
	}
	ts := w.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Atrium-Webhooks")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(h.Key, id, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
