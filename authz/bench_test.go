package authz

import (
	"net/url"
	"testing"
)

// Benchmarks run the real HTTP handlers over loopback against the SQLite
// store: go test ./authz -run '^$' -bench . -benchmem

func BenchmarkTokenClientCredentials(b *testing.B) {
	e := newTestEnv(b)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if status, out := e.postToken(form, "app", testSecret); status != 200 {
			b.Fatalf("%d %v", status, out)
		}
	}
}

func BenchmarkTokenRefresh(b *testing.B) {
	e := newTestEnv(b)
	verifier, challenge := pkcePair()
	loc := e.signIn(e.browser(), codeParams("app", "openid offline_access", challenge))
	_, tok := e.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}}, "app", testSecret)
	rt := tok["refresh_token"].(string)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		status, out := e.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "app", testSecret)
		if status != 200 {
			b.Fatalf("%d %v", status, out)
		}
		rt = out["refresh_token"].(string)
	}
}

// BenchmarkCodeFlowSSO is one authorization with an SSO session (no login
// page) followed by the code exchange: the steady state of a signed-in user
// opening an app.
func BenchmarkCodeFlowSSO(b *testing.B) {
	e := newTestEnv(b)
	br := e.browser()
	_, challenge := pkcePair()
	e.signIn(br, codeParams("app", "openid email", challenge))
	b.ReportAllocs()
	b.ResetTimer()
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
}
