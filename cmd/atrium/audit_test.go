package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var auditHiddenRe = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// TestServeAudit: serve records audit events in the database, with the
// client address behind a trusted proxy, and "audit list" prints them.
func TestServeAudit(t *testing.T) {
	data := t.TempDir()
	cfgFile := filepath.Join(t.TempDir(), "atrium.yaml")
	if err := os.WriteFile(cfgFile, []byte(`
trusted_proxies: [127.0.0.0/8]
clients:
  - id: audit-app
    secret: audit-app-secret-value
    redirect_uris: [https://app.example.com/cb]
users:
  - email: audited@example.com
    password: audited password 1
`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, nil, "--dev", "--data", data, "--config", cfgFile)

	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar}
	resp, err := b.Get(s.base + "/authorize?" + url.Values{
		"client_id": {"audit-app"}, "redirect_uri": {"https://app.example.com/cb"}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"},
	}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	form := url.Values{"email": {"audited@example.com"}, "password": {"not the password"}}
	for _, m := range auditHiddenRe.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], m[2])
	}
	if form.Get("csrf_token") == "" {
		t.Fatalf("no login form: %s", page)
	}
	req, _ := http.NewRequest("POST", resp.Request.URL.ResolveReference(&url.URL{Path: "login"}).String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", "198.51.100.77")
	resp, err = b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401: %s", resp.StatusCode, body)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	users := decode[[]map[string]any](t, mustRun(t, nil, "users", "list", "--data", data))
	userID := ""
	for _, u := range users {
		if u["email"] == "audited@example.com" {
			userID, _ = u["id"].(string)
		}
	}
	out := mustRun(t, nil, "audit", "list", "--data", data, "--user", userID, "--limit", "10")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("audit list --user %s: %d lines, want 1:\n%s", userID, len(lines), out)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatalf("audit list line %q: %v", lines[0], err)
	}
	detail, _ := ev["detail"].(map[string]any)
	if ev["type"] != "login.failed" || ev["user_id"] != userID || ev["ip"] != "198.51.100.77" || ev["client_id"] != "audit-app" ||
		detail["reason"] != "wrong password" || ev["id"] == "" || ev["time"] == "" {
		t.Errorf("audit event %v, want login.failed of %s from 198.51.100.77 (X-Forwarded-For of a trusted proxy) for audit-app", ev, userID)
	}
	if strings.Contains(out, "not the password") {
		t.Errorf("audit list shows the password typed: %s", out)
	}
	if out := mustRun(t, nil, "audit", "list", "--data", data, "--user", "nobody"); out != "" {
		t.Errorf("audit list --user nobody = %q, want nothing", out)
	}
	if _, err := atrium(t, nil, "audit", "list", "--data", data, "--limit", "0"); err == nil || !strings.Contains(err.Error(), "--limit") {
		t.Errorf("audit list --limit 0 = %v, want an error naming --limit", err)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
