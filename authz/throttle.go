package authz

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// Throttling keeps online guessing slow without locking anyone out for
// long. It lives in the state store's counters (storage.CounterStore), so
// every node applies the same limits.
//
// Per account (the key is a digest of the lower-cased address typed, so an
// address without an account is throttled exactly like one with an
// account and the answers tell nothing): failed sign-ins only. After
// Config.LoginAttempts failures (default 5), each within 15 minutes of the
// one before, every further attempt must wait 2^(n-5) seconds after the
// latest failure, n being the failures so far, up to 15 minutes; a
// successful sign-in clears the failures. Second-factor codes follow the
// same rule per user (factorLimited).
//
// Per client address (internal/clientip, behind Config.TrustedProxies;
// IPv6 addresses by their /64): sign-in attempts per 15 minutes, sign-ups
// and password reset requests per hour (Config.LoginAttemptsPerIP,
// SignupsPerIP, ResetsPerIP).
//
// A throttled attempt is answered 429 with Retry-After and a message
// saying how long to wait, checks no password, and is audited.

const (
	failureWindow = 15 * time.Minute
	maxBackoff    = 15 * time.Minute
	loginIPWindow = 15 * time.Minute
	mailIPWindow  = time.Hour
)

// backoff is how long an attempt must wait after the latest of n failures
// when free failures go without waiting.
func backoff(n int64, free int) time.Duration {
	if n < int64(free) {
		return 0
	}
	if e := n - int64(free); e < 10 { // 2^10 s is past the cap
		return min(time.Second<<e, maxBackoff)
	}
	return maxBackoff
}

// waitLeft is how long an attempt must still wait after n failures, the
// latest at last.
func (p *Provider) waitLeft(n int64, last time.Time) time.Duration {
	return max(backoff(n, p.cfg.LoginAttempts)-p.now().Sub(last), 0)
}

// digestKey is a counter key for a value that should not be stored as is.
func digestKey(prefix, v string) string {
	sum := sha256.Sum256([]byte(v))
	return prefix + base64.RawURLEncoding.EncodeToString(sum[:16])
}

func accountKey(email string) string {
	return digestKey("login-fail:", strings.ToLower(strings.TrimSpace(email)))
}

func factorKey(userID string) string { return digestKey("factor-fail:", userID) }

// addrKey groups client addresses: IPv6 by /64, the block one host
// usually gets.
func addrKey(a netip.Addr) string {
	if a.Is6() {
		if pfx, err := a.Prefix(64); err == nil {
			return pfx.String()
		}
	}
	return a.String()
}

// errThrottled carries how long a throttled attempt must wait.
type errThrottled struct {
	retry time.Duration
	scope string // "account" or "address"
}

func (e *errThrottled) Error() string {
	return fmt.Sprintf("throttled by %s for %s", e.scope, e.retry)
}

// throttled reports whether err is a throttle and, if so, the wait.
func throttled(err error) (*errThrottled, bool) {
	var t *errThrottled
	ok := errors.As(err, &t)
	return t, ok
}

// addrLimited counts one attempt of purpose from r's client address and
// returns an *errThrottled when it is over limit per window.
func (p *Provider) addrLimited(r *http.Request, purpose string, limit int, window time.Duration) error {
	a := p.clientAddr(r)
	if p.stores.Counters == nil || limit < 0 || !a.IsValid() {
		return nil
	}
	n, err := p.stores.Counters.Hit(r.Context(), purpose+"-addr:"+addrKey(a), window)
	if err != nil {
		return err
	}
	if n > int64(limit) {
		// The window started at its first hit, which the counter does
		// not tell: the whole window is an upper bound.
		return &errThrottled{retry: window, scope: "address"}
	}
	return nil
}

// loginThrottle decides whether a sign-in attempt for email from r may
// check its password: nil, an *errThrottled, or a storage error. counted
// reports whether the attempt was already counted as a failure (see
// failureGate); loginFailed then does not count it again.
func (p *Provider) loginThrottle(r *http.Request, email string) (counted bool, err error) {
	if err := p.addrLimited(r, "login", p.cfg.LoginAttemptsPerIP, loginIPWindow); err != nil {
		return false, err
	}
	if p.stores.Counters == nil || p.cfg.LoginAttempts < 0 {
		return false, nil
	}
	return p.failureGate(r.Context(), accountKey(email))
}

// failureGate lets an attempt through unless it must wait. Past the free
// failures, an attempt let through is counted as a failure before its
// secret is checked, and refused when another attempt was counted between
// this one's check and its count: only one attempt passes each backoff,
// however many are sent at once. Within the free failures, a failure is
// counted once known, so the backoff runs from the end of the check.
func (p *Provider) failureGate(ctx context.Context, key string) (counted bool, err error) {
	n, err := p.failureCheck(ctx, key)
	if err != nil {
		return false, err
	}
	return p.failureClaim(ctx, key, n)
}

// failureCheck is failureGate's check: the failures so far, or an
// *errThrottled.
func (p *Provider) failureCheck(ctx context.Context, key string) (int64, error) {
	n, last, err := p.stores.Counters.Failures(ctx, key, failureWindow)
	if err != nil {
		return 0, err
	}
	if wait := p.waitLeft(n, last); wait > 0 {
		return 0, &errThrottled{retry: wait, scope: "account"}
	}
	return n, nil
}

// failureClaim is failureGate's count, given the n failures its check saw.
func (p *Provider) failureClaim(ctx context.Context, key string, n int64) (counted bool, err error) {
	if n < int64(p.cfg.LoginAttempts) {
		return false, nil
	}
	m, err := p.stores.Counters.Fail(ctx, key, failureWindow)
	if err != nil {
		return true, err
	}
	if m > n+1 {
		return true, &errThrottled{retry: backoff(m, p.cfg.LoginAttempts), scope: "account"}
	}
	return true, nil
}

// loginFailed counts a failed sign-in against the account of email,
// unless loginThrottle already did.
func (p *Provider) loginFailed(ctx context.Context, email string, counted bool) error {
	if counted || p.stores.Counters == nil || p.cfg.LoginAttempts < 0 {
		return nil
	}
	_, err := p.stores.Counters.Fail(ctx, accountKey(email), failureWindow)
	return err
}

// loginSucceeded clears the account's failures after a right password.
func (p *Provider) loginSucceeded(ctx context.Context, email string) {
	if p.stores.Counters == nil || p.cfg.LoginAttempts < 0 {
		return
	}
	if err := p.stores.Counters.ClearFailures(ctx, accountKey(email)); err != nil {
		p.log.WarnContext(ctx, "clearing sign-in failures", "err", err)
	}
}

// factorLimited reports whether userID may try a second factor now: 0, or
// how long to wait. The rule is the sign-in's: Config.LoginAttempts free
// failures, then a doubling backoff after each.
func (p *Provider) factorLimited(ctx context.Context, userID string) (retry time.Duration, err error) {
	if p.stores.Counters == nil || p.cfg.LoginAttempts < 0 {
		return 0, nil
	}
	n, last, err := p.stores.Counters.Failures(ctx, factorKey(userID), failureWindow)
	if err != nil {
		return 0, err
	}
	return p.waitLeft(n, last), nil
}

// factorFailed records a failed second factor of userID.
func (p *Provider) factorFailed(ctx context.Context, userID string) error {
	if p.stores.Counters == nil || p.cfg.LoginAttempts < 0 {
		return nil
	}
	_, err := p.stores.Counters.Fail(ctx, factorKey(userID), failureWindow)
	return err
}

// factorSucceeded resets userID's second-factor backoff.
func (p *Provider) factorSucceeded(ctx context.Context, userID string) error {
	if p.stores.Counters == nil || p.cfg.LoginAttempts < 0 {
		return nil
	}
	return p.stores.Counters.ClearFailures(ctx, factorKey(userID))
}

// retryAfter sets the Retry-After header for a wait and returns the
// sentence for the page: "Try again in N minutes."
func retryAfter(w http.ResponseWriter, wait time.Duration) string {
	secs := max(int((wait+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	mins := (secs + 59) / 60
	if mins == 1 {
		return "Try again in 1 minute."
	}
	return fmt.Sprintf("Try again in %d minutes.", mins)
}

// accountOf is the ID of the account of email for an audit event, "" when
// there is none (the address itself is never recorded).
func (p *Provider) accountOf(ctx context.Context, email string) string {
	if email == "" {
		return ""
	}
	u, err := p.stores.Users.GetUserByEmail(ctx, email)
	if err != nil {
		return ""
	}
	return u.ID
}

// loginThrottled audits a refused sign-in attempt and answers it on the
// login page.
func (p *Provider) loginThrottled(w http.ResponseWriter, r *http.Request, ix *interaction, email string, t *errThrottled) {
	p.log.WarnContext(r.Context(), "sign-in throttled", "scope", t.scope, "request_id", requestID(w, r))
	p.audit(r, storage.AuditLoginThrottled, p.accountOf(r.Context(), email), ix.Form.Get("client_id"),
		map[string]string{"method": "password", "scope": t.scope})
	p.renderLogin(w, r, ix, http.StatusTooManyRequests, email, "Too many sign-in attempts. "+retryAfter(w, t.retry))
}

// passwordFailed counts and audits a wrong email or password; reason is
// checkPassword's error, which names no secret and no address.
func (p *Provider) passwordFailed(r *http.Request, ix *interaction, email string, counted bool, reason error) {
	ctx := r.Context()
	if err := p.loginFailed(ctx, email, counted); err != nil {
		p.log.WarnContext(ctx, "counting a failed sign-in", "err", err)
	}
	p.audit(r, storage.AuditLoginFailed, p.accountOf(ctx, email), ix.Form.Get("client_id"),
		map[string]string{"method": "password", "reason": strings.TrimSuffix(reason.Error(), ": "+errBadCredentials.Error())})
}

// passwordSucceeded clears the account's failures and audits the right
// password (the first factor: a second may follow).
func (p *Provider) passwordSucceeded(r *http.Request, ix *interaction, email string, user *storage.User) {
	p.loginSucceeded(r.Context(), email)
	p.audit(r, storage.AuditLoginSucceeded, user.ID, ix.Form.Get("client_id"), map[string]string{"method": "password"})
}
