package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Time limits of the outage test.
const (
	outageDetect  = 10 * time.Second // for the server to notice Redis is gone
	outageRecover = 10 * time.Second // for it to work again once Redis is back
	outageAnswer  = 5 * time.Second  // for any one request while Redis is down
)

// TestFaultRedisOutage kills the Redis a node keeps its state in while
// token and authorization requests keep coming, then restarts it on the
// same port. While Redis is down the node must answer, not hang or crash:
// the token endpoint with a JSON temporarily_unavailable (or server_error),
// pages with an HTML 5xx, /readyz 503, /healthz 200. Once Redis is back it
// must work again without a restart, with its users and clients (in SQL)
// intact.
func TestFaultRedisOutage(t *testing.T) {
	t.Parallel()
	redis := startRedis(t)
	// The durable store is SQLite in the data folder: only Redis fails.
	d := newDeployment(t, "ATRIUM_REDIS_URL="+redis.url(), "ATRIUM_REDIS_PREFIX=faults:")
	web := d.client(t, "faults", clientSpec{})
	api := d.client(t, "faults-cc", clientSpec{grants: []string{grantClientCr}, scopes: []string{"api.read"}})
	u := d.user(t, "faults")
	n := d.node(t, "node")

	ccForm := url.Values{"grant_type": {grantClientCr}, "scope": {"api.read"}}
	authorizeURL := n.endpoint(t, "authorization_endpoint") + "?" + faultCodeParams(web).Encode()
	token, readyz, healthz := n.endpoint(t, "token_endpoint"), n.issuer+"/readyz", n.issuer+"/healthz"

	// Before the outage: a session and tokens, and a ready node.
	if r := api.tokenAt(t, n, ccForm); r.Status != http.StatusOK {
		t.Fatalf("client_credentials before the outage: %s", r)
	}
	b := nodeBrowser(t, n)
	z := b.authorizeAt(n, web, multiScopes, nil, actor{user: u})
	tok := web.tokenAt(t, n, z.codeForm(web, z.codeFrom(t, n)))
	if tok.Status != http.StatusOK {
		t.Fatalf("code exchange before the outage: %s", tok)
	}
	accessToken := tok.str("access_token")
	if r := getAt(t, readyz); r.Status != http.StatusOK {
		t.Fatalf("/readyz before the outage: %s", r)
	}

	// Load: client_credentials and authorization requests, until stopped.
	ctx, stopLoad := context.WithCancel(context.Background())
	var load sync.WaitGroup
	var mu sync.Mutex
	var samples []probe
	loop := func(kind string, send func(context.Context) probe) {
		load.Go(func() {
			for ctx.Err() == nil {
				p := send(ctx)
				if ctx.Err() != nil {
					return // cut short by the end of the test, not by the server
				}
				p.kind = kind
				mu.Lock()
				samples = append(samples, p)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	loop("token", func(ctx context.Context) probe {
		return doProbe(ctx, http.MethodPost, token, ccForm, api)
	})
	loop("authorize", func(ctx context.Context) probe {
		return doProbe(ctx, http.MethodGet, authorizeURL, nil, nil)
	})
	defer func() { stopLoad(); load.Wait() }()
	time.Sleep(300 * time.Millisecond)

	redis.stop()
	down := time.Now()
	t.Logf("Redis stopped")

	t.Run("while Redis is down", func(t *testing.T) {
		deadline := time.Now().Add(outageDetect)
		for {
			p := doProbe(t.Context(), http.MethodPost, token, ccForm, api)
			if p.err == nil && p.status != http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the token endpoint still answers %v %v after Redis was stopped", outageDetect, p)
			}
			time.Sleep(100 * time.Millisecond)
		}
		p := doProbe(t.Context(), http.MethodPost, token, ccForm, api)
		if !p.unavailableJSON() {
			t.Errorf("client_credentials: %v, want 503 temporarily_unavailable (or 5xx server_error) JSON", p)
		}
		if p.status == http.StatusServiceUnavailable && p.json["error"] != "temporarily_unavailable" {
			t.Errorf("client_credentials: 503 with error %v, want temporarily_unavailable", p.json["error"])
		}
		for _, c := range []struct {
			name string
			p    probe
		}{
			{"authorize without a session", doProbe(t.Context(), http.MethodGet, authorizeURL, nil, nil)},
			{"authorize with a session", browserProbe(t, b, n.endpoint(t, "authorization_endpoint")+"?"+faultCodeParams(web).Encode())},
		} {
			if !c.p.errorPage() {
				t.Errorf("%s: %v, want an HTML 5xx page", c.name, c.p)
			}
		}
		// A token the node cannot look up is not thereby invalid.
		if p := doProbe(t.Context(), http.MethodPost, n.endpoint(t, "introspection_endpoint"), url.Values{"token": {accessToken}}, web); p.status < 500 {
			t.Errorf("introspection: %v, want a 5xx, not a verdict on the token", p)
		}
		if p := bearerProbe(t.Context(), n.endpoint(t, "userinfo_endpoint"), accessToken); p.status < 500 {
			t.Errorf("userinfo: %v, want a 5xx, not a verdict on the token", p)
		}
		if p := doProbe(t.Context(), http.MethodGet, readyz, nil, nil); p.status != http.StatusServiceUnavailable {
			t.Errorf("/readyz: %v, want 503", p)
		}
		if p := doProbe(t.Context(), http.MethodGet, healthz, nil, nil); p.status != http.StatusOK {
			t.Errorf("/healthz: %v, want 200 while the process is up", p)
		}
		alive(t, n)
		time.Sleep(time.Second) // more load against the dead store
	})

	redis.restart()
	up := time.Now()
	t.Logf("Redis restarted on %s after %v", redis.addr, up.Sub(down).Round(time.Millisecond))

	t.Run("after Redis is back", func(t *testing.T) {
		deadline := up.Add(outageRecover)
		for {
			tp := doProbe(t.Context(), http.MethodPost, token, ccForm, api)
			rp := doProbe(t.Context(), http.MethodGet, readyz, nil, nil)
			if tp.status == http.StatusOK && rp.status == http.StatusOK {
				t.Logf("token endpoint and /readyz recovered %v after the restart", time.Since(up).Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v after Redis restarted: token endpoint %v, /readyz %v; want both 200", outageRecover, tp, rp)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// Redis came back empty; users and clients, in SQL, are intact.
		fresh := nodeBrowser(t, n)
		z := fresh.authorizeAt(n, web, multiScopes, nil, actor{user: u})
		if z.Logins != 1 {
			t.Errorf("sign-in after the outage showed %d login forms, want 1", z.Logins)
		}
		r := web.tokenAt(t, n, z.codeForm(web, z.codeFrom(t, n)))
		if r.Status != http.StatusOK {
			t.Fatalf("code exchange after the outage: %s", r)
		}
		if info := userinfoAt(t, n, r.str("access_token")); info.Status != http.StatusOK || info.str("sub") != u.Sub {
			t.Errorf("userinfo after the outage: %s, want 200 with sub %q", info, u.Sub)
		}
		time.Sleep(500 * time.Millisecond) // some load after recovery
	})

	stopLoad()
	load.Wait()

	// Every answer under load, before, during and after the outage, was
	// one the contract allows, and none took long.
	counts := map[string]int{}
	var lastToken probe
	var slowest time.Duration
	for _, p := range samples {
		counts[p.kind+" "+p.outcome()]++
		slowest = max(slowest, p.dur)
		switch {
		case p.err != nil:
			t.Errorf("%s at %s: %v", p.kind, p.at.Format(time.TimeOnly), p.err)
			continue
		case p.dur > outageAnswer:
			t.Errorf("%s at %s took %v", p.kind, p.at.Format(time.TimeOnly), p.dur)
		}
		switch p.kind {
		case "token":
			if p.status != http.StatusOK && !p.unavailableJSON() {
				t.Errorf("token request under load at %s: %v", p.at.Format(time.TimeOnly), p)
			}
			lastToken = p
		case "authorize":
			if p.status >= 400 && !p.errorPage() {
				t.Errorf("authorization request under load at %s: %v", p.at.Format(time.TimeOnly), p)
			}
		}
	}
	t.Logf("answers under load: %v; slowest %v", counts, slowest.Round(time.Millisecond))
	if lastToken.status != http.StatusOK {
		t.Errorf("the last token request under load, after recovery: %v, want 200", lastToken)
	}
	if counts["token 200"] == 0 || counts["token 503"]+counts["token 500"] == 0 {
		t.Errorf("the load saw no success or no outage: %v", counts)
	}
	alive(t, n)
}

// faultCodeParams are the parameters of a valid code request.
func faultCodeParams(c *rp) url.Values {
	q := codeParams(c)
	q.Set("scope", strings.Join(multiScopes, " "))
	return q
}

// probe is one request and its answer, for tests that cannot stop at the
// first failure (they run off the test goroutine).
type probe struct {
	kind   string
	at     time.Time
	dur    time.Duration
	status int
	header http.Header
	body   string
	json   map[string]any
	err    error
}

func (p probe) String() string {
	if p.err != nil {
		return p.err.Error()
	}
	return fmt.Sprintf("%d %s %s", p.status, p.header.Get("Content-Type"), tail(p.body, 300))
}

// outcome is the status, or "error".
func (p probe) outcome() string {
	if p.err != nil {
		return "error"
	}
	return fmt.Sprint(p.status)
}

// unavailableJSON reports an RFC 6749 error saying the server cannot
// answer now: 503 temporarily_unavailable, or 500/503 server_error.
func (p probe) unavailableJSON() bool {
	if !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") {
		return false
	}
	switch p.json["error"] {
	case "temporarily_unavailable":
		return p.status == http.StatusServiceUnavailable
	case "server_error":
		return p.status == http.StatusInternalServerError || p.status == http.StatusServiceUnavailable
	}
	return false
}

// errorPage reports an HTML 5xx page without a redirect.
func (p probe) errorPage() bool {
	return p.err == nil && p.status >= 500 && p.status <= 599 &&
		strings.HasPrefix(p.header.Get("Content-Type"), "text/html") && p.header.Get("Location") == ""
}

// doProbe sends a request without cookies and without following
// redirects; a form is posted, authenticated as c when c is non-nil.
func doProbe(ctx context.Context, method, u string, form url.Values, c *rp) probe {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return probe{err: err}
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c != nil {
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	return probeDo(srv.http, req)
}

// bearerProbe GETs u with a bearer token.
func bearerProbe(ctx context.Context, u, token string) probe {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return probe{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return probeDo(srv.http, req)
}

// browserProbe GETs u in the browser, with its cookies.
func browserProbe(t testing.TB, b *browser, u string) probe {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		return probe{err: err}
	}
	return probeDo(b.c, req)
}

func probeDo(c *http.Client, req *http.Request) probe {
	p := probe{at: time.Now()}
	resp, err := c.Do(req)
	p.dur = time.Since(p.at)
	if err != nil {
		p.err = err
		return p
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	p.status, p.header, p.body, p.err = resp.StatusCode, resp.Header, string(b), err
	if err == nil && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &p.json); err != nil {
			p.err = fmt.Errorf("%d with invalid JSON: %v: %s", p.status, err, b)
		}
	}
	return p
}
