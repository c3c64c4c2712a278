package federation

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	_, appleKey := testAppleKey(t)
	ok := Config{ID: "corp", Type: "oidc", Issuer: "https://id.example", ClientID: "c", ClientSecret: "s"}
	tests := []struct {
		name string
		edit func(c *Config)
		want []string // substrings of the error; none: valid
	}{
		{name: "valid oidc", edit: func(c *Config) {}},
		{name: "valid apple", edit: func(c *Config) {
			*c = Config{ID: "apple", Type: "apple", ClientID: "com.example.web", TeamID: "T", KeyID: "K", PrivateKey: appleKey}
		}},
		{name: "everything wrong at once", edit: func(c *Config) {
			*c = Config{ID: "Bad ID", Type: "okta", UpdateProfile: "sometimes", ClaimMapping: map[string]string{"avatar": "pic"}}
		}, want: []string{`id: "Bad ID"`, `type: "okta" is not one of`, "client_id: must not be empty",
			"client_secret: must not be empty", `update_profile: "sometimes"`, `claim_mapping: "avatar"`}},
		{name: "oidc without issuer", edit: func(c *Config) { c.Issuer = "" }, want: []string{`issuer: must not be empty for type "oidc"`}},
		{name: "oauth2 without endpoints", edit: func(c *Config) { c.Type = "oauth2" },
			want: []string{"auth_url: must not be empty", "token_url: must not be empty", "userinfo_url: must not be empty"}},
		{name: "relative URL", edit: func(c *Config) { c.Issuer = "/id" }, want: []string{`issuer: "/id" is not an absolute http(s) URL`}},
		{name: "preset option on the wrong type", edit: func(c *Config) { c.HostedDomain, c.Tenant = "corp.example", "common" },
			want: []string{`hosted_domain: only applies to type "google"`, `tenant: only applies to type "microsoft"`}},
		{name: "apple without key, with a secret", edit: func(c *Config) {
			*c = Config{ID: "apple", Type: "apple", ClientID: "x", ClientSecret: "s", PrivateKey: "not a key"}
		}, want: []string{"client_secret: must be empty for type apple", "team_id: must not be empty", "key_id: must not be empty", "private_key: is not PEM"}},
		{name: "valid token_auth_method", edit: func(c *Config) { c.TokenAuthMethod = "client_secret_post" }},
		{name: "unknown token_auth_method", edit: func(c *Config) { c.TokenAuthMethod = "private_key_jwt" },
			want: []string{`token_auth_method: "private_key_jwt" is not "client_secret_basic" or "client_secret_post"`}},
		{name: "token_auth_method on a preset", edit: func(c *Config) { c.Type, c.TokenAuthMethod = "google", "client_secret_post" },
			want: []string{`token_auth_method: only applies to types "oidc" and "oauth2"`}},
		{name: "scope with a space", edit: func(c *Config) { c.Scopes = []string{"openid email"} }, want: []string{"scopes[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "not a key") {
				t.Errorf("error quotes the private key: %v", err)
			}
			_, nerr := New(context.Background(), c, nil)
			assertKind(t, nerr, ErrConfig)
		})
	}
}

func TestRegistry(t *testing.T) {
	cfgs := []Config{
		{ID: "github", Type: "github", ClientID: "c", ClientSecret: "s"},
		{ID: "google", Type: "google", ClientID: "c", ClientSecret: "s", Label: "Google Workspace"},
		{ID: "corp", Type: "oidc", Issuer: "http://127.0.0.1:1", ClientID: "c", ClientSecret: "s"}, // down: still built
	}
	r, err := NewRegistry(context.Background(), cfgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids, labels []string
	for _, c := range r.List() {
		ids, labels = append(ids, c.ID()), append(labels, c.Label())
	}
	if strings.Join(ids, ",") != "github,google,corp" || strings.Join(labels, ",") != "Continue with GitHub,Google Workspace,Continue with corp" {
		t.Errorf("List: %v %v", ids, labels)
	}
	if c, ok := r.Get("google"); !ok || c.ID() != "google" {
		t.Errorf("Get(google) = %v, %v", c, ok)
	}
	if _, ok := r.Get("nope"); ok {
		t.Error("Get(nope) found something")
	}

	_, err = NewRegistry(context.Background(), append(cfgs, cfgs[0], Config{ID: "x", Type: "oidc"}), nil)
	assertKind(t, err, ErrConfig)
	for _, w := range []string{`"github": id: used twice`, `"x": client_id`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

// Upstream bodies are read through a 1 MiB cap.
func TestBodyCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"sub":"`+strings.Repeat("a", maxBody)+`"}`)
	}))
	defer srv.Close()
	_, err := getJSON(context.Background(), upstreamClient(nil), srv.URL, "t")
	assertKind(t, err, ErrInvalidResponse)
	if !errors.Is(err, errBodyTooLarge) {
		t.Errorf("error %v, want errBodyTooLarge", err)
	}
}
