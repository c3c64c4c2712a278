package federation

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// testAPI is an OAuth 2.0 upstream with a REST profile API: a token
// endpoint answering like GitHub's and Facebook's (form-encoded unless JSON
// is asked for), and the profile routes given.
type testAPI struct {
	srv    *httptest.Server
	routes map[string]string // path -> JSON body
	status map[string]int    // path -> status, default 200
	check  func(r *http.Request) error
	// basic makes the token endpoint take the client secret by HTTP Basic
	// only (by default: in the form only, as GitHub and Facebook).
	basic bool
}

func newTestAPI(t *testing.T, tokenPath string, routes map[string]string) *testAPI {
	t.Helper()
	a := &testAPI{routes: routes, status: map[string]int{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == tokenPath {
			r.ParseForm()
			f := r.PostForm
			id, secret := f.Get("client_id"), f.Get("client_secret")
			if a.basic {
				if secret != "" {
					id = ""
				} else {
					id, secret, _ = r.BasicAuth()
				}
			}
			if id != "atrium-client" || secret != testSecret {
				oauthError(w, 401, "invalid_client")
				return
			}
			if f.Get("code") != "good-code" || f.Get("code_verifier") == "" {
				// GitHub answers 200 with an error.
				writeJSON(w, map[string]string{"error": "bad_verification_code"})
				return
			}
			if strings.Contains(r.Header.Get("Accept"), "application/json") {
				writeJSON(w, map[string]any{"access_token": testAccessToken, "token_type": "bearer", "scope": "read:user,user:email"})
				return
			}
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
			fmt.Fprintf(w, "access_token=%s&scope=read%%3Auser&token_type=bearer", testAccessToken)
			return
		}
		body, ok := a.routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+testAccessToken {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		if a.check != nil {
			if err := a.check(r); err != nil {
				t.Errorf("%s: %v", r.URL.Path, err)
			}
		}
		if s := a.status[r.URL.Path]; s != 0 {
			w.WriteHeader(s)
		} else if strings.HasPrefix(body, "<") {
			w.Header().Set("Content-Type", "text/html")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

const (
	githubUser = `{"login":"octocat","id":583231,"node_id":"MDQ6VXNlcjU4MzIzMQ==","avatar_url":"https://avatars.githubusercontent.com/u/583231?v=4",` +
		`"type":"User","name":"The Octocat","company":"@github","email":null}`
	githubEmailsVerified = `[{"email":"old@example.com","primary":false,"verified":true,"visibility":null},` +
		`{"email":"octocat@github.com","primary":true,"verified":true,"visibility":"public"}]`
	githubEmailsUnverified = `[{"email":"octocat@github.com","primary":true,"verified":false,"visibility":"private"},` +
		`{"email":"other@example.com","primary":false,"verified":false,"visibility":null}]`
	facebookMe = `{"id":"10158000000000001","name":"Ada Lovelace","first_name":"Ada","last_name":"Lovelace","email":"ada@example.com",` +
		`"picture":{"data":{"height":200,"is_silhouette":false,"url":"https://platform-lookaside.fbsbx.com/ada.jpg","width":200}}}`
)

func TestOAuth2Connectors(t *testing.T) {
	tests := []struct {
		name    string
		api     func(t *testing.T) (*testAPI, Config)
		code    string
		want    Identity
		wantErr Kind
	}{
		{
			name: "github: primary verified email from /user/emails",
			api: func(t *testing.T) (*testAPI, Config) {
				a := newTestAPI(t, "/login/oauth/access_token", map[string]string{"/user": githubUser, "/user/emails": githubEmailsVerified})
				return a, githubConfig(a)
			},
			want: Identity{Provider: "github", Subject: "583231", Email: "octocat@github.com", EmailVerified: true,
				Name: "The Octocat", Nickname: "octocat", Picture: "https://avatars.githubusercontent.com/u/583231?v=4"},
		},
		{
			name: "github: only unverified emails",
			api: func(t *testing.T) (*testAPI, Config) {
				a := newTestAPI(t, "/login/oauth/access_token", map[string]string{"/user": githubUser, "/user/emails": githubEmailsUnverified})
				return a, githubConfig(a)
			},
			want: Identity{Provider: "github", Subject: "583231", Email: "octocat@github.com", EmailVerified: false,
				Name: "The Octocat", Nickname: "octocat", Picture: "https://avatars.githubusercontent.com/u/583231?v=4"},
		},
		{
			name: "github: only unverified emails, verified email required",
			api: func(t *testing.T) (*testAPI, Config) {
				a := newTestAPI(t, "/login/oauth/access_token", map[string]string{"/user": githubUser, "/user/emails": githubEmailsUnverified})
				cfg := githubConfig(a)
				cfg.RequireVerifiedEmail = true
				return a, cfg
			},
			wantErr: ErrMissingEmail,
		},
		{
			name: "github: bad code answered with 200 and an error",
			code: "spent-code",
			api: func(t *testing.T) (*testAPI, Config) {
				a := newTestAPI(t, "/login/oauth/access_token", map[string]string{"/user": githubUser, "/user/emails": githubEmailsVerified})
				return a, githubConfig(a)
			},
			wantErr: ErrInvalidResponse,
		},
		{
			name: "github: API 500",
			api: func(t *testing.T) (*testAPI, Config) {
				a := newTestAPI(t, "/login/oauth/access_token", map[string]string{"/user": githubUser, "/user/emails": "{}"})
				a.status["/user/emails"] = 500
				return a, githubConfig(a)
			},
			wantErr: ErrUnavailable,
		},
		{
			name: "github: API answers an HTML page",
			api: func(t *testing.T) (*testAPI, Config) {
				a := newTestAPI(t, "/login/oauth/access_token", map[string]string{"/user": "<html>Unicorn!</html>"})
				return a, githubConfig(a)
			},
			wantErr: ErrInvalidResponse,
		},
		{
			name: "facebook: picture.data.url, confirmed email, appsecret_proof",
			api: func(t *testing.T) (*testAPI, Config) {
				a := newTestAPI(t, "/v19.0/oauth/access_token", map[string]string{"/v19.0/me": facebookMe})
				a.check = func(r *http.Request) error {
					mac := hmac.New(sha256.New, []byte(testSecret))
					mac.Write([]byte(testAccessToken))
					q := r.URL.Query()
					if q.Get("appsecret_proof") != hex.EncodeToString(mac.Sum(nil)) || !strings.Contains(q.Get("fields"), "picture.type(large)") {
						return fmt.Errorf("query %v", q)
					}
					return nil
				}
				return a, Config{ID: "facebook", Type: "facebook", ClientID: "atrium-client", ClientSecret: testSecret,
					APIBaseURL: a.srv.URL + "/v19.0", AuthURL: a.srv.URL + "/dialog/oauth"}
			},
			want: Identity{Provider: "facebook", Subject: "10158000000000001", Email: "ada@example.com", EmailVerified: true,
				Name: "Ada Lovelace", GivenName: "Ada", FamilyName: "Lovelace", Picture: "https://platform-lookaside.fbsbx.com/ada.jpg"},
		},
		{
			name: "generic oauth2 with JSON-path claim mapping",
			api: func(t *testing.T) (*testAPI, Config) {
				a := newTestAPI(t, "/token", map[string]string{"/api/me": `{"data":{"uid":7,"profile":{"name":"Grace"},` +
					`"emails":[{"value":"grace@example.com","confirmed":"true"}]}}`})
				a.basic = true
				return a, Config{ID: "forge", Type: "oauth2", ClientID: "atrium-client", ClientSecret: testSecret,
					AuthURL: a.srv.URL + "/authorize", TokenURL: a.srv.URL + "/token", UserinfoURL: a.srv.URL + "/api/me",
					ClaimMapping: map[string]string{"subject": "data.uid", "name": "data.profile.name",
						"email": "data.emails.0.value", "email_verified": "data.emails.0.confirmed"}}
			},
			want: Identity{Provider: "forge", Subject: "7", Name: "Grace", Email: "grace@example.com", EmailVerified: true},
		},
		{
			name: "generic oauth2: profile without a subject",
			api: func(t *testing.T) (*testAPI, Config) {
				a := newTestAPI(t, "/token", map[string]string{"/api/me": `{"name":"nobody"}`})
				a.basic = true
				return a, Config{ID: "forge", Type: "oauth2", ClientID: "atrium-client", ClientSecret: testSecret,
					AuthURL: a.srv.URL + "/authorize", TokenURL: a.srv.URL + "/token", UserinfoURL: a.srv.URL + "/api/me"}
			},
			wantErr: ErrInvalidResponse,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, cfg := tt.api(t)
			c := mustNew(t, cfg, nil)
			ctx := context.Background()
			f := newFlow()
			authURL, err := c.AuthCodeURL(ctx, f.request())
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(authURL)
			if !strings.HasPrefix(authURL, a.srv.URL) || u.Query().Get("state") != f.state || u.Query().Get("code_challenge_method") != "S256" {
				t.Errorf("auth URL %q", authURL)
			}
			code := tt.code
			if code == "" {
				code = "good-code"
			}
			id, err := c.Exchange(ctx, f.callback(url.Values{"code": {code}, "state": {f.state}}))
			if tt.wantErr != "" {
				assertKind(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			got := *id
			if got.Token == nil || got.Token.AccessToken != testAccessToken || len(got.Claims) < 2 {
				t.Errorf("Token %v, Claims %s", got.Token, got.Claims)
			}
			got.Token, got.Claims = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("identity\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func githubConfig(a *testAPI) Config {
	return Config{ID: "github", Type: "github", ClientID: "atrium-client", ClientSecret: testSecret,
		AuthURL: a.srv.URL + "/login/oauth/authorize", TokenURL: a.srv.URL + "/login/oauth/access_token", APIBaseURL: a.srv.URL}
}
