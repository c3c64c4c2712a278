package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// Rotation on a schedule (Options.RotateEvery), for each algorithm on its
// own:
//
//	active, younger than RotateEvery-PublishBefore
//	    | RotateDue: no next key yet
//	    v
//	next key published (storage.KeyNext): in the JWKS and verifying, not signing
//	    | RotateDue: the next key published for PublishBefore and the
//	    | active key RotateEvery old
//	    v
//	next key promoted: it signs, and its age counts from now; the old
//	active key is retired and stays in the JWKS for RetireAfter, then
//	drops out
//
// So every key signs for RotateEvery, and the JWKS holds the active key,
// for PublishBefore of every RotateEvery the next one, and the keys
// retired within RetireAfter.
//
// Every node runs the schedule; the store decides which node publishes or
// promotes (storage.KeyScheduler), so a step another node took first is
// not an error. A rotation by hand (Rotate) leaves a next key published:
// it is promoted once the new active key is RotateEvery old.

// Actions of a Change.
const (
	ActionPublished = "published"
	ActionPromoted  = "promoted"
)

// Change is what a step of the schedule did to a key.
type Change struct {
	Action string  // ActionPublished or ActionPromoted
	Key    KeyInfo // the key as it is after the change
}

// checkSchedule checks the Options of a manager whose RotateEvery is set.
func checkSchedule(store storage.KeyStore, opts Options) error {
	if _, ok := store.(storage.KeyScheduler); !ok {
		return errors.New("the key store cannot rotate keys on a schedule (it is not a storage.KeyScheduler)")
	}
	if least := MinPublishBefore(opts.Refresh); opts.PublishBefore < least {
		return fmt.Errorf("PublishBefore %s is shorter than %s: relying parties could meet tokens of a key their cached JWKS lacks", opts.PublishBefore, least)
	}
	if opts.PublishBefore >= opts.RotateEvery {
		return fmt.Errorf("PublishBefore %s must be shorter than RotateEvery %s", opts.PublishBefore, opts.RotateEvery)
	}
	return nil
}

// signsFrom is when the schedule promotes a next key published at
// published while the active key dates from activeSince (zero if none).
func (m *Manager) signsFrom(published, activeSince time.Time) time.Time {
	from := published.Add(m.opts.PublishBefore)
	if due := activeSince.Add(m.opts.RotateEvery); !activeSince.IsZero() && due.After(from) {
		return due
	}
	return from
}

// RotateDue takes the steps of the schedule that are due at Options.Now,
// for each algorithm, and reports them. It does nothing when RotateEvery
// is zero, nor for an algorithm without an active key (Ensure makes one).
// A step another node took first is skipped; other failures are joined in
// the error, after the steps of the other algorithms were tried.
func (m *Manager) RotateDue(ctx context.Context) ([]Change, error) {
	if m.opts.RotateEvery == 0 {
		return nil, nil
	}
	st := m.store.(storage.KeyScheduler) // checked by NewManager
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	s, err := m.reload(ctx)
	if err != nil {
		return nil, err
	}
	var (
		done []string // kids published or promoted
		acts []string
		errs []error
	)
	for _, alg := range m.opts.Algorithms {
		active, next := s.byAlg[alg], s.next[alg]
		if active == nil {
			continue
		}
		now := m.opts.Now()
		switch {
		case next == nil && !now.Before(active.createdAt.Add(m.opts.RotateEvery-m.opts.PublishBefore)):
			kid, err := m.publishNext(ctx, st, alg, now)
			switch {
			case errors.Is(err, storage.ErrAlreadyExists): // another node published one
			case err != nil:
				errs = append(errs, err)
			default:
				done, acts = append(done, kid), append(acts, ActionPublished)
			}
		case next != nil && !now.Before(m.signsFrom(next.createdAt, active.createdAt)):
			err := st.PromoteKey(ctx, next.kid, now.Add(m.opts.RetireAfter))
			switch {
			case errors.Is(err, storage.ErrNotFound): // another node promoted it
			case err != nil:
				errs = append(errs, fmt.Errorf("keys: promote %s key %s: %w", alg, next.kid, err))
			default:
				done, acts = append(done, next.kid), append(acts, ActionPromoted)
			}
		}
	}
	if len(done) == 0 {
		return nil, errors.Join(errs...)
	}
	// The steps are taken: the cache learns them even when ctx ended
	// meanwhile (a stop during a rotation), and a reload that still fails
	// leaves the changes named by kid alone.
	rctx, cancel := detach(ctx)
	after, err := m.reload(rctx)
	cancel()
	if err != nil {
		errs = append(errs, err)
	}
	changes := make([]Change, len(done))
	for i, kid := range done {
		changes[i] = Change{Action: acts[i], Key: KeyInfo{KID: kid}}
		if after == nil {
			continue
		}
		if k := after.byKID[kid]; k != nil {
			changes[i].Key = k.info()
		}
	}
	return changes, errors.Join(errs...)
}

// publishNext generates a key of alg and publishes it as the next key.
func (m *Manager) publishNext(ctx context.Context, st storage.KeyScheduler, alg string, now time.Time) (string, error) {
	priv, err := generate(alg)
	if err != nil {
		return "", fmt.Errorf("keys: generate %s key: %w", alg, err)
	}
	k, err := newKey(alg, priv)
	if err != nil {
		return "", fmt.Errorf("keys: %w", err)
	}
	rec, err := seal(m.box, k, now)
	if err != nil {
		return "", fmt.Errorf("keys: %w", err)
	}
	if err := st.PublishKey(ctx, rec); err != nil {
		return "", fmt.Errorf("keys: publish next %s key: %w", alg, err)
	}
	return k.kid, nil
}

// RunSchedule runs RotateDue at once and then every CheckEvery until ctx
// ends, logging each change and failure. It returns at once when
// RotateEvery is zero.
func (m *Manager) RunSchedule(ctx context.Context, log *slog.Logger) {
	if m.opts.RotateEvery == 0 {
		return
	}
	t := time.NewTicker(m.opts.CheckEvery)
	defer t.Stop()
	for {
		changes, err := m.RotateDue(ctx)
		for _, c := range changes {
			log.Info("signing key "+c.Action, "kid", c.Key.KID, "alg", c.Key.Algorithm)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("signing key rotation failed; retrying", "err", err, "retry_in", m.opts.CheckEvery.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
