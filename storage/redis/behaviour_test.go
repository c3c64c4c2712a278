package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
)

// TestUnavailableAndRecovery stops Redis under the store: every call
// reports storage.ErrUnavailable quickly, and the store works again, Lua
// scripts included (the restarted server has an empty script cache), once
// Redis is back, without reopening.
func TestUnavailableAndRecovery(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, err := redisstore.Open(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exp := time.Now().Add(time.Hour)
	tok := &storage.Token{Kind: storage.KindRefreshToken, Signature: "sig-1", RequestID: "req-1", Active: true, ExpiresAt: exp}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	calls := map[string]func() error{
		"Ping":            func() error { return s.Ping(ctx) },
		"GetToken":        func() error { _, err := s.GetToken(ctx, storage.KindRefreshToken, "sig-1"); return err },
		"DeactivateToken": func() error { return s.DeactivateToken(ctx, storage.KindRefreshToken, "sig-1") },
		"CreateToken": func() error {
			return s.CreateToken(ctx, &storage.Token{Kind: storage.KindAccessToken, Signature: "x", RequestID: "r", ExpiresAt: exp})
		},
		"PutSession": func() error { return s.PutSession(ctx, &storage.Session{ID: "s", UserID: "u", ExpiresAt: exp}) },
		"Hit":        func() error { _, err := s.Hit(ctx, "k", time.Minute); return err },
		"UseOnce":    func() error { return s.UseOnce(ctx, "jti", exp) },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v, want storage.ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %s to fail", name, d)
		}
	}

	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("store did not reconnect within 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The restarted server is empty (no persistence) and has no scripts.
	if _, err := s.GetToken(ctx, storage.KindRefreshToken, "sig-1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetToken after restart: %v, want ErrNotFound", err)
	}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// The index scripts, sent by SHA, met an empty script cache: the
	// token must still be indexed.
	if err := s.CreateToken(ctx, &storage.Token{Kind: storage.KindAccessToken, Signature: "sig-2", RequestID: "req-1", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RevokeTokens(ctx, storage.KindAccessToken, "req-1"); n != 1 || err != nil {
		t.Fatalf("RevokeTokens of a token created after the restart = %d, %v; want 1", n, err)
	}
	if err := s.DeactivateToken(ctx, storage.KindRefreshToken, "sig-1"); err != nil {
		t.Fatalf("DeactivateToken after restart: %v", err)
	}
	if err := s.UseOnce(ctx, "jti-2", exp); err != nil {
		t.Fatalf("UseOnce after restart: %v", err)
	}
}

// TestKeysHaveTTLs checks every record and index expires with what it
// holds, so Redis never keeps dead state.
func TestKeysHaveTTLs(t *testing.T) {
	url := redistest.URL(t)
	ctx := context.Background()
	prefix := "ttl-test:" + time.Now().Format("150405.000000") + ":"
	s, err := redisstore.Open(ctx, url, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer deleteKeys(t, s.Client(), prefix)
	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutSession(ctx, &storage.Session{ID: "s1", UserID: "u1", ExpiresAt: now.Add(2 * time.Hour)}))
	must(s.PutInteraction(ctx, &storage.Interaction{ID: "i1", Data: []byte("{}"), ExpiresAt: now.Add(30 * time.Minute)}))
	must(s.CreateToken(ctx, &storage.Token{Kind: storage.KindAccessToken, Signature: "a1", RequestID: "r1", ClientID: "c1", Subject: "u1", ExpiresAt: now.Add(time.Hour)}))
	must(s.CreateToken(ctx, &storage.Token{Kind: storage.KindRefreshToken, Signature: "f1", RequestID: "r1", ClientID: "c1", Subject: "u1", ExpiresAt: now.Add(3 * time.Hour)}))
	// One write, the longer-lived token first: its indexes keep the longer
	// expiry, and each lists the grant once.
	must(s.WriteTokens(ctx, []*storage.Token{
		{Kind: storage.KindRefreshToken, Signature: "f2", RequestID: "r2", ClientID: "c2", Subject: "u2", ExpiresAt: now.Add(3 * time.Hour)},
		{Kind: storage.KindAccessToken, Signature: "a2", RequestID: "r2", ClientID: "c2", Subject: "u2", ExpiresAt: now.Add(time.Hour)},
	}, nil))
	must(s.UseOnce(ctx, "j1", now.Add(5*time.Minute)))
	_, err = s.Hit(ctx, "n1", 15*time.Minute)
	must(err)

	want := map[string]time.Duration{
		"{s:s1}":          2 * time.Hour,
		"{u:u1}:sessions": 2 * time.Hour,
		"{i:i1}":          30 * time.Minute,
		"{t:a:a1}":        time.Hour,
		"{t:r:f1}":        3 * time.Hour,
		"{g:r1}":          3 * time.Hour, // the longest-lived member
		"{u:u1}:grants":   3 * time.Hour,
		"{c:c1}:grants":   3 * time.Hour,
		"{t:r:f2}":        3 * time.Hour,
		"{t:a:a2}":        time.Hour,
		"{g:r2}":          3 * time.Hour,
		"{u:u2}:grants":   3 * time.Hour,
		"{c:c2}:grants":   3 * time.Hour,
		"{o:j1}":          5 * time.Minute,
		"{n:n1}":          15 * time.Minute,
	}
	c := s.Client()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	must(err)
	if len(keys) != len(want) {
		t.Errorf("keys %v, want the %d of the schema", keys, len(want))
	}
	for suffix, ttl := range want {
		got, err := c.PTTL(ctx, prefix+suffix).Result()
		must(err)
		if got < ttl-time.Minute || got > ttl+time.Second {
			t.Errorf("PTTL %s = %s, want about %s", suffix, got, ttl)
		}
	}
	for _, k := range []string{"{u:u2}:grants", "{c:c2}:grants"} {
		if n, err := c.ZCard(ctx, prefix+k).Result(); n != 1 || err != nil {
			t.Errorf("ZCARD %s = %d, %v; want the grant once", k, n, err)
		}
	}
	for _, k := range keys {
		if !strings.Contains(k, "{") {
			t.Errorf("key %q has no hash tag", k)
		}
	}
}
