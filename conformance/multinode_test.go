package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// raceRounds is how many times each cross-node race is run.
const raceRounds = 20

// multiScopes are what the multi-node flows ask for: offline_access too,
// so that every code also yields a refresh token.
var multiScopes = []string{"openid", "profile", "email", "offline_access"}

// TestMultiNode runs three `atrium serve` processes on one PostgreSQL
// schema and one Redis, each with its own address and issuer, and checks
// that they act as one deployment: sessions, codes and tokens issued by one
// node are honoured by the others, a key rotation reaches all of them, and
// a code or refresh token redeemed at two nodes at once is spent once.
func TestMultiNode(t *testing.T) {
	t.Parallel()
	dsn := postgresSchema(t)
	redis := startRedis(t)
	d := newDeployment(t,
		"ATRIUM_STORAGE_DSN="+dsn,
		"ATRIUM_REDIS_URL="+redis.url(),
		"ATRIUM_REDIS_PREFIX=conformance-"+randomString(4)+":",
	)
	c, u := d.client(t, "multinode", clientSpec{}), d.user(t, "multinode")
	n1, n2, n3 := d.node(t, "node1"), d.node(t, "node2"), d.node(t, "node3")
	nodes := []*server{n1, n2, n3}
	b := nodeBrowser(t, nodes...)

	// code runs an authorization at node n in b (prompt=none rides the SSO
	// session) and returns its code and the PKCE verifier.
	code := func(t *testing.T, n *server, extra url.Values) (*authorization, string) {
		t.Helper()
		b.t = t
		z := b.authorizeAt(n, c, multiScopes, extra, actor{user: u})
		return z, z.codeFrom(t, n)
	}
	promptNone := url.Values{"prompt": {"none"}}

	// Later cases ride the session this one establishes.
	if !t.Run("a session started at one node is valid at the others", func(t *testing.T) {
		z, first := code(t, n1, nil)
		if z.Logins != 1 {
			t.Fatalf("node 1 showed %d login forms to a fresh browser, want 1", z.Logins)
		}
		if r := c.tokenAt(t, n1, z.codeForm(c, first)); r.Status != http.StatusOK {
			t.Fatalf("code exchange at node 1: %s", r)
		}
		for _, n := range []*server{n2, n3} {
			z, code := code(t, n, promptNone)
			if z.Logins != 0 || z.Consents != 0 {
				t.Errorf("prompt=none at %s showed %d login and %d consent forms", n.issuer, z.Logins, z.Consents)
			}
			r := c.tokenAt(t, n, z.codeForm(c, code))
			if r.Status != http.StatusOK {
				t.Fatalf("code exchange at %s: %s", n.issuer, r)
			}
			raw := r.str("id_token")
			idt, err := n.provider.Verifier(&oidc.Config{ClientID: c.ID}).Verify(n.ctx(t), raw)
			if err != nil {
				t.Fatalf("id_token from %s does not verify against its own discovery: %v", n.issuer, err)
			}
			if idt.Subject != u.Sub {
				t.Errorf("id_token from %s: sub %q, want %q", n.issuer, idt.Subject, u.Sub)
			}
			if idt.Nonce != z.nonce {
				t.Errorf("id_token from %s: nonce %q, want %q", n.issuer, idt.Nonce, z.nonce)
			}
		}
	}) {
		t.FailNow()
	}

	t.Run("a token issued by one node is honoured by the others", func(t *testing.T) {
		z, cd := code(t, n3, promptNone)
		r := c.tokenAt(t, n3, z.codeForm(c, cd))
		if r.Status != http.StatusOK {
			t.Fatalf("code exchange at node 3: %s", r)
		}
		tok := tokenOf(t, r)
		in := c.introspectAt(t, n1, tok.AccessToken)
		if in.JSON["active"] != true {
			t.Fatalf("node 1 introspects node 3's access token as inactive: %s", in)
		}
		if in.str("sub") != u.Sub || in.str("client_id") != c.ID {
			t.Errorf("introspection at node 1: sub %q client_id %q, want %q %q", in.str("sub"), in.str("client_id"), u.Sub, c.ID)
		}
		if info := userinfoAt(t, n2, tok.AccessToken); info.Status != http.StatusOK || info.str("sub") != u.Sub {
			t.Errorf("userinfo at node 2 with node 3's access token: %s, want 200 with sub %q", info, u.Sub)
		}
		if c.introspectAt(t, n2, tok.RefreshToken).JSON["active"] != true {
			t.Error("node 2 introspects node 3's refresh token as inactive")
		}

		// Revoked at one node, it is dead at every node.
		if r := c.post(t, n2.endpoint(t, "revocation_endpoint"), url.Values{"token": {tok.RefreshToken}}); r.Status != http.StatusOK {
			t.Fatalf("revocation at node 2: %s", r)
		}
		for _, n := range nodes {
			if c.introspectAt(t, n, tok.AccessToken).JSON["active"] == true {
				t.Errorf("%s: the access token is active after its grant was revoked at node 2", n.issuer)
			}
			if c.introspectAt(t, n, tok.RefreshToken).JSON["active"] == true {
				t.Errorf("%s: the refresh token is active after it was revoked at node 2", n.issuer)
			}
		}
		if info := userinfoAt(t, n1, tok.AccessToken); info.Status != http.StatusUnauthorized {
			t.Errorf("userinfo at node 1 after revocation at node 2: %s, want 401", info)
		}
	})

	t.Run("a rotated key is published and used by every node", func(t *testing.T) {
		before := jwksKIDs(t, n1)
		for _, n := range nodes[1:] {
			if got := jwksKIDs(t, n); !slices.Equal(got, before) {
				t.Errorf("JWKS of %s has kids %v, node 1 %v: nodes must publish the same keys", n.issuer, got, before)
			}
		}
		var rotated struct {
			KID string `json:"kid"`
		}
		if err := d.atrium(&rotated, "keys", "rotate"); err != nil {
			t.Fatal(err)
		}
		kid := rotated.KID
		if kid == "" || slices.Contains(before, kid) {
			t.Fatalf("`keys rotate` printed kid %q, want a new one (kids before: %v)", kid, before)
		}

		// Nodes reload keys every 30 seconds, and there is no setting to
		// make that shorter, so each node gets rotationTimeout.
		deadline := time.Now().Add(rotationTimeout)
		for _, n := range nodes {
			for {
				kids := jwksKIDs(t, n)
				if slices.Contains(kids, kid) {
					for _, old := range before {
						if !slices.Contains(kids, old) {
							t.Errorf("%s: JWKS dropped the previous key %q at rotation", n.issuer, old)
						}
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s still publishes %v, without the new kid %q, %v after `atrium keys rotate`", n.issuer, kids, kid, rotationTimeout)
				}
				time.Sleep(time.Second)
			}
		}
		// Every node signs with the new key.
		for _, n := range nodes {
			for {
				z, cd := code(t, n, promptNone)
				r := c.tokenAt(t, n, z.codeForm(c, cd))
				if r.Status != http.StatusOK {
					t.Fatalf("code exchange at %s: %s", n.issuer, r)
				}
				got := headerKID(t, r.str("id_token"))
				if got == kid {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s publishes the new kid %q but still signs with %q", n.issuer, kid, got)
				}
				time.Sleep(time.Second)
			}
		}
	})

	// Losing a race is reuse of the code or refresh token (RFC 6749 §4.1.2,
	// RFC 9700 §4.14.2), so the loser's node revokes the grant: at once, and
	// again 2s later, by when the winner's node has stored what it issued.
	// The winner's tokens are therefore revoked too, but only eventually:
	// right after the race some are still active, so the test checks them
	// reuseSettle after the last race. Whichever way the loser fails (the
	// code or refresh token found spent, or the code's PKCE state already
	// gone), the grant must end up revoked.
	t.Run("a code redeemed at two nodes at once is spent once", func(t *testing.T) {
		var winners []*winner
		var last time.Time
		for round := range raceRounds {
			z, cd := code(t, n1, promptNone)
			rs := race(t, c, [2]*server{n1, n2}, z.codeForm(c, cd))
			last = time.Now()
			if w := oneWinner(t, round, rs); w != nil {
				winners = append(winners, w)
			}
		}
		revokedSoon(t, c, n3, last, winners, "access_token", "refresh_token")
	})

	t.Run("a refresh token redeemed at two nodes at once is spent once", func(t *testing.T) {
		var winners []*winner
		var last time.Time
		for round := range raceRounds {
			z, cd := code(t, n1, promptNone)
			r := c.tokenAt(t, n1, z.codeForm(c, cd))
			if r.Status != http.StatusOK {
				t.Fatalf("code exchange: %s", r)
			}
			rt := r.str("refresh_token")
			if rt == "" {
				t.Fatalf("no refresh_token for scope offline_access: %s", r)
			}
			rs := race(t, c, [2]*server{n1, n2}, url.Values{"grant_type": {grantRefresh}, "refresh_token": {rt}})
			last = time.Now()
			w := oneWinner(t, round, rs)
			if w == nil {
				continue
			}
			if w.str("refresh_token") == "" || w.str("refresh_token") == rt {
				t.Fatalf("round %d: the winning refresh returned no new refresh_token: %v", round, w.JSON)
			}
			if c.introspectAt(t, n3, rt).JSON["active"] == true {
				t.Errorf("round %d: the raced refresh token is still active", round)
			}
			winners = append(winners, w)
		}
		revokedSoon(t, c, n3, last, winners, "access_token", "refresh_token")
		// The token endpoint agrees: the winner's new refresh token is spent.
		for _, w := range winners {
			r := c.tokenAt(t, n3, url.Values{"grant_type": {grantRefresh}, "refresh_token": {w.str("refresh_token")}})
			if r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
				t.Errorf("round %d: refreshing with the winner's new refresh token after the reuse: %s, want 400 invalid_grant", w.round, r)
			}
		}
	})

	for _, n := range nodes {
		alive(t, n)
	}
}

// reuseSettle is how long after a lost redemption race the server may take
// to revoke the winner's tokens: it revokes the grant a second time 2s
// after the race, and a margin for a loaded machine.
const reuseSettle = 5 * time.Second

// revokedSoon checks that the tokens (fields of the winners' token
// responses) are inactive, at node n, reuseSettle after the last race. It
// reports how many were still active right away.
func revokedSoon(t *testing.T, c *rp, n *server, last time.Time, winners []*winner, fields ...string) {
	t.Helper()
	early := map[string]int{}
	for _, w := range winners {
		for _, f := range fields {
			if c.introspectAt(t, n, w.str(f)).JSON["active"] == true {
				early[f]++
			}
		}
	}
	t.Logf("right after the races, still active among %d winners: %v", len(winners), early)
	time.Sleep(time.Until(last.Add(reuseSettle)))
	for _, w := range winners {
		for _, f := range fields {
			tok := w.str(f)
			if tok == "" {
				t.Errorf("round %d: no %s in the winner's %v", w.round, f, w.JSON)
				continue
			}
			if c.introspectAt(t, n, tok).JSON["active"] == true {
				t.Errorf("round %d: the winner's %s is still active %v after the race, which the other request lost with %s",
					w.round, f, reuseSettle, w.loser)
			}
		}
	}
}

// raceResult is one of two racing token requests.
type raceResult struct {
	node   *server
	status int
	body   string
	json   map[string]any
	err    error
}

func (r raceResult) String() string {
	if r.err != nil {
		return fmt.Sprintf("%s: %v", r.node.issuer, r.err)
	}
	return fmt.Sprintf("%s: %d %s", r.node.issuer, r.status, tail(r.body, 300))
}

// race posts the same token request, as the client, to two nodes at the
// same instant: both requests are built first and released together.
func race(t testing.TB, c *rp, nodes [2]*server, form url.Values) [2]raceResult {
	t.Helper()
	var reqs [2]*http.Request
	for i, n := range nodes {
		reqs[i] = newFormRequest(t, n.endpoint(t, "token_endpoint"), form)
		reqs[i].SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	var out [2]raceResult
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range 2 {
		ready.Add(1)
		done.Go(func() {
			out[i].node = nodes[i]
			ready.Done()
			<-start
			resp, err := srv.http.Do(reqs[i])
			if err != nil {
				out[i].err = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			out[i].status, out[i].body, out[i].err = resp.StatusCode, string(b), err
			if err == nil {
				out[i].err = json.Unmarshal(b, &out[i].json)
			}
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
	return out
}

// winner is the successful response of a race, with what the loser got.
type winner struct {
	*apiResponse
	round int
	loser raceResult
}

// oneWinner checks that of two racing requests exactly one got 200 and the
// other 400 invalid_grant, and returns the winner (nil, after reporting,
// otherwise).
func oneWinner(t testing.TB, round int, rs [2]raceResult) *winner {
	t.Helper()
	for i, r := range rs {
		if r.err != nil {
			t.Errorf("round %d: %v", round, r)
			return nil
		}
		loser := rs[1-i]
		if r.status == http.StatusOK && loser.status == http.StatusBadRequest && loser.json["error"] == "invalid_grant" {
			return &winner{&apiResponse{Status: r.status, Body: r.body, JSON: r.json}, round, loser}
		}
	}
	t.Errorf("round %d: racing requests answered\n  %v\n  %v\nwant exactly one 200 and one 400 invalid_grant", round, rs[0], rs[1])
	return nil
}

// jwksKIDs returns the sorted kids of a node's JWKS.
func jwksKIDs(t testing.TB, n *server) []string {
	t.Helper()
	raw, err := json.Marshal(fetchJSON(t, n.endpoint(t, "jwks_uri")))
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	slices.Sort(kids)
	return kids
}
