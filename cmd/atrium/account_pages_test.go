package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestServeAccountPages checks serve wires the account area's Profile,
// Connected apps, Sessions and Activity pages: each sends a browser with
// no session to sign in, where a page left out would be 404.
func TestServeAccountPages(t *testing.T) {
	s := startServer(t, nil, "--dev", "--data", t.TempDir())
	defer s.stop()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/account/profile", "/account/apps", "/account/sessions", "/account/activity", "/account/nosuch"} {
		resp, err := c.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		wired := resp.StatusCode == http.StatusSeeOther && strings.Contains(resp.Header.Get("Location"), "/login")
		if want := path != "/account/nosuch"; wired != want {
			t.Errorf("%s: status %d location %q; wired %v, want %v", path, resp.StatusCode, resp.Header.Get("Location"), wired, want)
		}
	}
}
