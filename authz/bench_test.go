package authz

import (
	"context"
	"net/url"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atrium-id/atrium/internal/redistest"
	redisstore "github.com/atrium-id/atrium/storage/redis"
)

// Benchmarks run the real HTTP handlers over loopback, with the grant state
// in SQLite and then in Redis (reporting Redis round trips per operation):
//
//	go test ./authz -run '^$' -bench . -benchmem

// roundTrips counts the commands and pipelines a Redis client sends.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// benchBackends runs fn with the grant state in SQLite, then in Redis.
func benchBackends(b *testing.B, fn func(b *testing.B, e *testEnv)) {
	b.Run("state=sqlite", func(b *testing.B) { fn(b, newTestEnv(b)) })
	b.Run("state=redis", func(b *testing.B) {
		rs, err := redisstore.Open(context.Background(), redistest.URL(b), redisstore.WithPrefix("bench:"+randomToken()[:12]+":"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { rs.Close() })
		rt := &roundTrips{}
		rs.Client().AddHook(rt)
		e := newTestEnv(b, rs)
		e.resetHook = func() { rt.n.Store(0) }
		fn(b, e)
		// Per operation of the timed loop: the set-up was reset away.
		b.ReportMetric(float64(rt.n.Load())/float64(max(b.N, 1)), "redis-rt/op")
	})
}

func (e *testEnv) resetTimer(b *testing.B) {
	b.ReportAllocs()
	b.ResetTimer()
	if e.resetHook != nil {
		e.resetHook()
	}
}

func BenchmarkTokenClientCredentials(b *testing.B) {
	benchBackends(b, func(b *testing.B, e *testEnv) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}
		e.resetTimer(b)
		for b.Loop() {
			if status, out := e.postToken(form, "app", testSecret); status != 200 {
				b.Fatalf("%d %v", status, out)
			}
		}
	})
}

func BenchmarkTokenRefresh(b *testing.B) {
	benchBackends(b, func(b *testing.B, e *testEnv) {
		verifier, challenge := pkcePair()
		loc := e.signIn(e.browser(), codeParams("app", "openid offline_access", challenge))
		_, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "app", testSecret)
		rt := tok["refresh_token"].(string)
		e.resetTimer(b)
		for b.Loop() {
			status, out := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "app", testSecret)
			if status != 200 {
				b.Fatalf("%d %v", status, out)
			}
			rt = out["refresh_token"].(string)
		}
	})
}

// BenchmarkCodeFlowSSO is one authorization with an SSO session (no login
// page) followed by the code exchange: the steady state of a signed-in user
// opening an app.
func BenchmarkCodeFlowSSO(b *testing.B) {
	benchBackends(b, func(b *testing.B, e *testEnv) {
		br := e.browser()
		_, challenge := pkcePair()
		e.signIn(br, codeParams("app", "openid email", challenge))
		e.resetTimer(b)
		for b.Loop() {
			verifier, challenge := pkcePair()
			resp, err := br.Get(e.authorizeURL(codeParams("app", "openid email", challenge)))
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			loc, err := resp.Location()
			if err != nil {
				b.Fatalf("no redirect: %d", resp.StatusCode)
			}
			status, out := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
				"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "app", testSecret)
			if status != 200 {
				b.Fatalf("%d %v", status, out)
			}
		}
	})
}

// BenchmarkRedisMemory reports the Redis memory (MEMORY USAGE, summed over
// keys) of one SSO session and of one grant from the code flow: the spent
// code, the access and refresh tokens and the index entries.
func BenchmarkRedisMemory(b *testing.B) {
	prefix := "mem:" + randomToken()[:12] + ":"
	rs, err := redisstore.Open(context.Background(), redistest.URL(b), redisstore.WithPrefix(prefix))
	if err != nil {
		b.Fatal(err)
	}
	defer rs.Close()
	e := newTestEnv(b, rs)
	c := rs.Client()
	ctx := context.Background()
	usage := func() (total int64) {
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range keys {
			n, err := c.MemoryUsage(ctx, k).Result()
			if err != nil {
				b.Fatal(err)
			}
			total += n
		}
		return total
	}
	br := e.browser()
	verifier, challenge := pkcePair()
	code := e.signIn(br, codeParams("app", "openid offline_access", challenge)).Query().Get("code")
	before := usage()
	e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "app", testSecret)
	// The interaction is gone once the code is issued; what remains before
	// the exchange is the session and the code's state.
	grants := 0
	b.ResetTimer()
	for b.Loop() {
		verifier, challenge := pkcePair()
		resp, err := br.Get(e.authorizeURL(codeParams("app", "openid offline_access", challenge)))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := resp.Location()
		if status, out := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "app", testSecret); status != 200 {
			b.Fatalf("%d %v", status, out)
		}
		grants++
	}
	b.StopTimer()
	after := usage()
	sessionKeys, _ := c.Keys(ctx, prefix+"{s:*").Result()
	var session int64
	for _, k := range sessionKeys {
		n, _ := c.MemoryUsage(ctx, k).Result()
		session += n
	}
	b.ReportMetric(float64(session), "B/session")
	b.ReportMetric(float64(after-before)/float64(grants), "B/grant")
}
