package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/federation"
)

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// load is what every command does: file, environment, defaults, Validate.
func load(t *testing.T, path string, getenv func(string) string) (*Config, error) {
	t.Helper()
	c, err := Load(path, getenv)
	if err != nil {
		return nil, err
	}
	c.SetDefaults()
	return c, c.Validate()
}

func TestBadConfigs(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"unknown_key", []string{"line 2: issuerr: unknown key"}},
		{"unknown_nested_key", []string{"line 2: tokens.access_token_lifespn: unknown key"}},
		{"unknown_client_key", []string{"line 4: clients[0].redirect_uri: unknown key"}},
		{"syntax", []string{"did not find expected"}},
		{"wrong_type", []string{"cannot unmarshal !!seq into config.Tokens"}},
		{"bad_duration", []string{`tokens.access_token_lifespan: "abc" is not a duration`}},
		{"duration_without_unit", []string{`session.lifespan: "3600" is not a duration`}},
		{"bad_remember_device", []string{`login.remember_device: "30d" is not a duration`}},
		{"negative_duration", []string{"signing.retire_after: must be positive, got -5m0s"}},
		{"bad_algorithm", []string{`signing.algorithm: "HS256" is not one of RS256, ES256, EdDSA`}},
		{"bad_log_format", []string{`log.format: "xml" is not one of json, text`}},
		{"bad_log_level", []string{`log.level: "verbose" is not one of debug, info, warn, error`}},
		{"bad_addr", []string{`addr: "8080" is not host:port`}},
		{"relative_issuer", []string{`issuer: "id.example.com" is not an absolute http(s) URL`}},
		{"issuer_query", []string{`issuer: "https://id.example.com/?tenant=1" must not have a query`}},
		{"short_master_secret", []string{"master_secret: must be at least 32 bytes, got 9"}},
		{"both_master_secrets", []string{"master_secret: set either master_secret or master_secret_file, not both"}},
		{"missing_master_secret_file", []string{"master_secret_file: open testdata/does-not-exist"}},
		{"client_missing_id", []string{"clients[0].id: required"}},
		{"client_duplicate_id", []string{`clients[1].id: "web" is declared twice`}},
		{"client_unknown_grant_type", []string{`clients[0].grant_types[1]: unknown grant type "password" (accepted: authorization_code, refresh_token, client_credentials`}},
		{"client_unknown_auth_method", []string{`clients[0].token_endpoint_auth_method: unknown method "client_secret_jwt" (accepted: client_secret_basic, client_secret_post, private_key_jwt, none)`}},
		{"client_relative_redirect_uri", []string{`clients[0].redirect_uris[0]: "/callback" is not an absolute URL`}},
		{"client_redirect_uri_fragment", []string{`clients[0].redirect_uris[0]: "https://app.example.com/callback#top" must not contain a fragment`}},
		{"client_missing_redirect_uri", []string{"clients[0].redirect_uris: required for the authorization_code grant"}},
		{"client_public_with_secret", []string{"clients[0].secret: a public client has no secret"}},
		{"client_public_client_credentials", []string{"clients[0].grant_types: a public client cannot use client_credentials"}},
		{"client_missing_secret", []string{"clients[0].secret: required for a client_secret_basic client (or set public: true)"}},
		{"client_private_key_jwt_without_jwks", []string{"clients[0].jwks_file: required for private_key_jwt"}},
		{"client_private_jwks", []string{`clients[0].jwks_file: testdata/private.jwks.json: key 0 (kid "app-1") is a private key`}},
		{"client_jwks_without_rsa", []string{"clients[0].jwks_file: testdata/ec.jwks.json: no RSA key"}},
		{"client_bad_scope", []string{`clients[0].scopes[0]: "openid profile" is not a scope token`}},
		{"user_bad_email", []string{`users[0].email: "ada" is not an email address`}},
		{"user_duplicate_email", []string{`users[1].email: "Ada@Example.com" is declared twice`}},
		{"user_missing_password", []string{"users[0].password: required"}},
		{"bad_login_max_attempts", []string{"login.max_attempts: must be -1 (no limit), 0 (the default, 5) or positive, got -3"}},
		{"bad_login_attempts_per_ip", []string{"login.attempts_per_ip: must be -1 (no limit), 0 (the default, 100) or positive, got -2"}},
		{"bad_trusted_proxies", []string{`trusted_proxies: not a CIDR prefix or an IP address: "10.0.0.0/33", "proxy.internal"`}},
		{"bad_audit_retention", []string{"audit.retention: must be positive, got -24h0m0s"}},
		{"consent_policy_version_too_long", []string{"consent.policy_version: must be at most 100 characters"}},
		{"bad_consent_policy_version", []string{`consent.policy_version: must be at most 100 characters, without control characters or surrounding spaces, got "2031-03\n"`}},
		{"client_bad_id_token_alg", []string{`clients[0].id_token_signed_response_alg: "HS256" is not one of RS256, ES256, EdDSA`}},
		{"smtp_bad_starttls", []string{`smtp.starttls: "sometimes" is not one of auto, required, off`}},
		{"smtp_missing_from", []string{"smtp.from: required with smtp.host"}},
		{"smtp_clear_password", []string{"smtp.starttls: off with a username would send the password in clear text"}},
		{"bad_redis_url", []string{"redis.url: must start with redis://, rediss://, redis+sentinel:// or rediss+sentinel://"}},
		{"federation_missing_secret", []string{`federation.providers[0]: federation provider "github": client_secret: must not be empty`}},
		{"federation_unknown_type", []string{`federation.providers[0]: federation provider "myspace": type: "myspace" is not one of oidc, oauth2,`}},
		{"federation_duplicate_id", []string{`federation.providers[1]: id: "github" is declared twice`}},
		{"federation_unknown_key", []string{"line 6: federation.providers[0].client_secrett: unknown key"}},
		{"federation_both_secrets", []string{"federation.providers[0].client_secret_file: set either client_secret or client_secret_file, not both"}},
		{"federation_missing_secret_file", []string{"federation.providers[0].client_secret_file: open testdata/does-not-exist"}},
		{"federation_oidc_without_issuer", []string{
			`federation.providers[0]: federation provider "corp": issuer: must not be empty for type "oidc"`,
			`update_profile: "always" is not "every_login" or "once"`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := load(t, filepath.Join("testdata", tc.file+".bad.yaml"), noEnv)
			if err == nil {
				t.Fatalf("expected an error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not contain %q", err, want)
				}
			}
		})
	}
}

// Every bad file in testdata has a case above.
func TestEveryBadFileIsTested(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	if len(files) < 30 {
		t.Fatalf("found %d bad files", len(files))
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := &Config{
		Addr:   "nope",
		Tokens: Tokens{AccessTokenLifespan: dur("abc")},
		Log:    Log{Format: "xml"},
		Users:  []User{{Email: "ada"}},
	}
	c.SetDefaults()
	err := c.Validate()
	for _, want := range []string{
		`addr: "nope" is not host:port`,
		`tokens.access_token_lifespan: "abc" is not a duration`,
		`log.format: "xml"`,
		`users[0].email: "ada" is not an email address`,
		`users[0].password: required`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}

func dur(s string) Duration {
	var d Duration
	_ = d.UnmarshalText([]byte(s))
	return d
}

func TestFullGoodConfig(t *testing.T) {
	c, err := load(t, "testdata/full.good.yaml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckServe(); err != nil {
		t.Fatalf("CheckServe: %v", err)
	}
	want := &Config{
		Issuer:       "https://id.example.com",
		Addr:         "0.0.0.0:9090",
		DataDir:      "/var/lib/atrium",
		MasterSecret: "0123456789abcdef0123456789abcdef0123456789",
		Storage:      Storage{DSN: "postgres://atrium@db.internal:5432/atrium?sslmode=require"},
		Redis:        Redis{URL: "redis://cache.internal:6379,cache2.internal:6379", Prefix: "prod:"},
		Signing:      Signing{Algorithm: "ES256", RetireAfter: dur("48h"), RotateEvery: dur("2160h"), PublishBefore: dur("48h")},
		Tokens: Tokens{
			AccessTokenLifespan:    dur("15m"),
			RefreshTokenLifespan:   dur("240h"),
			IDTokenLifespan:        dur("10m"),
			AuthorizeCodeLifespan:  dur("2m"),
			JWTAccessTokenLifespan: dur("5m"),
		},
		Session: Session{Lifespan: dur("12h"), InteractionLifespan: dur("20m")},
		Login:   Login{MaxAttempts: 5, AttemptsPerIP: 500, RequireMFA: true, RememberDevice: dur("168h")},
		Signup: Signup{Fields: []SignupField{
			{Claim: "given_name", Required: true}, {Claim: "family_name", Required: true}, {Claim: "phone_number"},
		}},
		SMTP: SMTP{
			Host: "smtp.example.com", Port: 465, Username: "atrium@example.com", PasswordFile: "testdata/smtp.password",
			From: "Example ID <id@example.com>", StartTLS: "required",
		},
		TrustedProxies: []string{"10.0.0.0/8", "2001:db8::1"},
		Audit:          Audit{Retention: dur("2160h")},
		Consent: Consent{PolicyVersion: "2031-03", Purposes: []Purpose{
			{ID: "newsletter", Label: "Newsletter", Description: "Our monthly newsletter about new features."},
			{ID: "product-research", Label: "Product research"},
		}},
		Events: Events{
			Webhooks: []Webhook{
				{URL: "https://crm.example.com/hooks/atrium", Secret: "whsec_noyRrbllB0OunazX4jfQWxTaK+7Bn42hSelQ5I18iAE=", Topics: []string{"user.deleted"}},
				{URL: "https://billing.example.com/webhooks/identity", SecretFile: "testdata/webhook.secret"},
			},
			Retention: dur("720h"),
		},
		PAR:           PAR{Required: true, Lifespan: dur("90s")},
		DPoP:          DPoP{RequireNonce: true},
		TokenExchange: TokenExchange{Enabled: true},
		Device:        Device{Enabled: true, Lifespan: dur("15m"), Interval: dur("10s")},
		Registration: Registration{
			Mode:                          "token",
			InitialAccessTokens:           []string{"Cf7/XD8RPXxgtp3toi/O7O0bg5SxzOOAL4BkDK5xUgU="},
			InitialAccessTokensFile:       "testdata/initial_access_tokens",
			AllowedRedirectHosts:          []string{"partner.example.net", "apps.example.org"},
			AllowedGrantTypes:             []string{"authorization_code", "refresh_token", "client_credentials"},
			AllowedAuthMethods:            []string{"client_secret_basic", "private_key_jwt"},
			AnonymousRefreshTokenLifespan: dur("12h"),
			HourlyPerIP:                   50,
			AllowPrivateNetwork:           true,
		},
		ClientIDMetadataDocuments: ClientIDMetadataDocuments{
			Enabled: true, AllowPrivateNetwork: true,
			CacheTTL: dur("10m"), MinCacheTTL: dur("2m"), MaxCacheTTL: dur("12h"), FailureCacheTTL: dur("1m"),
			MaxBytes: 8192, Timeout: dur("3s"),
		},
		UI: UI{
			Name: "Example ID", LogoURL: "https://static.example.com/logo.svg",
			PrimaryColor: "#0b5fff", BackgroundColor: "#f7f7f9", TemplatesDir: "testdata/templates",
		},
		WebAuthn: WebAuthn{RPID: "example.com", RPName: "Example", Origins: []string{"https://id.example.com", "https://www.example.com"}},
		Attributes: []Attribute{
			{Name: "employee_id", Label: "Employee ID", Type: "string", MaxLength: 20},
			{Name: "newsletter_opt_in", Label: "Newsletter", Type: "boolean", Editable: true},
		},
		Scopes: []Scope{{Name: "employee", Description: "Your employee ID and name", Claims: []string{"employee_id", "name"}}},
		Resources: []Resource{
			{URI: "https://api.example.com", Name: "Example API", Scopes: []string{"orders:read", "orders:write"}},
			{URI: "https://orders.example.com/api", Name: "Orders API", SelfRegisteredClients: true},
		},
		Log: Log{Format: "text", Level: "debug"},
		Clients: []Client{
			{
				ID: "web", Secret: "web-secret-0123456789", Name: "Web app",
				RedirectURIs:             []string{"https://app.example.com/callback"},
				PostLogoutRedirectURIs:   []string{"https://app.example.com/"},
				GrantTypes:               []string{"authorization_code", "refresh_token"},
				Scopes:                   []string{"openid", "profile", "email"},
				TokenEndpointAuthMethod:  "client_secret_post",
				IDTokenSignedResponseAlg: "RS256",
				FirstParty:               true,
				Resources:                []string{"https://api.example.com"},
				AccessTokenFormat:        "jwt",
				SubjectType:              "public",
			},
			{
				ID: "mobile", Name: "Mobile app", Public: true,
				RedirectURIs:            []string{"com.example.app:/oauth/callback"},
				GrantTypes:              DefaultGrantTypes,
				Scopes:                  DefaultScopes,
				TokenEndpointAuthMethod: "none",
				SubjectType:             "pairwise",
				Sector:                  "example.com",
			},
			{
				ID: "backend", Name: "Backend job",
				GrantTypes:              []string{"client_credentials"},
				Scopes:                  DefaultScopes,
				TokenEndpointAuthMethod: "private_key_jwt",
				JWKSFile:                "testdata/client.jwks.json",
			},
			{
				ID: "orders", Secret: "orders-secret-0123456789", Name: "Orders service",
				GrantTypes:              []string{GrantTokenExchange},
				Scopes:                  DefaultScopes,
				TokenEndpointAuthMethod: "client_secret_basic",
				Resources:               []string{"https://orders.example.com/api"},
				TokenExchange: &ClientTokenExchange{
					SubjectClients:   []string{"web", "mobile"},
					SubjectResources: []string{"https://api.example.com"},
				},
			},
			{
				ID: "partner", Name: "Partner portal",
				RedirectURIs:            []string{"https://partner.example.net/callback"},
				GrantTypes:              DefaultGrantTypes,
				Scopes:                  DefaultScopes,
				TokenEndpointAuthMethod: "private_key_jwt",
				JWKSFile:                "testdata/client.jwks.json",
				RequestObjectSigningAlg: "RS256",
				RequestURIs:             []string{"https://partner.example.net/requests/login.jwt"},
			},
		},
		Users: []User{{Email: "ada@example.com", Password: "correct horse battery staple", Name: "Ada Lovelace"}},
		Federation: Federation{Providers: []Provider{
			{
				Config: federation.Config{
					ID: "github", Type: "github", ClientID: "gh-client", UpdateProfile: "once",
					APIBaseURL: "https://github.example.com/api/v3",
				},
				ClientSecretFile: "testdata/github.secret",
			},
			{Config: federation.Config{
				ID: "corp", Type: "oidc", Label: "Continue with Corp SSO", Logo: "https://corp.example.com/logo.svg",
				Issuer: "https://sso.corp.example.com", ClientID: "atrium", ClientSecret: "corp-secret",
				Scopes:               []string{"openid", "email", "profile", "groups"},
				ClaimMapping:         map[string]string{"nickname": "preferred_username"},
				TokenAuthMethod:      "client_secret_post",
				RequireVerifiedEmail: true, TrustEmail: true, StoreTokens: true,
			}},
			{Config: federation.Config{
				ID: "legacy", Type: "oauth2", Label: "Continue with Legacy Portal", ClientID: "atrium", ClientSecret: "legacy-secret",
				AuthURL:      "https://legacy.example.com/oauth/authorize",
				TokenURL:     "https://legacy.example.com/oauth/token",
				UserinfoURL:  "https://legacy.example.com/api/me",
				ClaimMapping: map[string]string{"subject": "id", "email": "contact.email"},
				DisablePKCE:  true,
			}},
			{Config: federation.Config{
				ID: "google", Type: "google", ClientID: "1234567890-abc.apps.googleusercontent.com", ClientSecret: "google-secret",
				HostedDomain: "example.com",
			}},
			{Config: federation.Config{
				ID: "microsoft", Type: "microsoft", ClientID: "00000000-0000-0000-0000-000000000000", ClientSecret: "microsoft-secret",
				Tenant: "example.onmicrosoft.com",
			}},
			{
				Config:         federation.Config{ID: "apple", Type: "apple", ClientID: "com.example.id", TeamID: "TEAM123456", KeyID: "KEY1234567"},
				PrivateKeyFile: "testdata/apple.p8",
			},
			{Config: federation.Config{
				ID: "apple-kids", Type: "apple", ClientID: "com.example.kids.id", TeamID: "TEAM123456", KeyID: "KEY7654321",
				PrivateKey: "-----BEGIN PRIVATE KEY-----\n" +
					"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgoongxMOhQAJ8xvSp\n" +
					"dapTsP6BnJJ3aMneNgDmOPc15EKhRANCAATrpzOi8l0fHlofXyhj0DNaAVzxlv4+\n" +
					"VTgd6kx9g1TDtdL70c/MoWvFGPgOG5xLChQyr5ex5xyDjPvc8lsUBLfM\n" +
					"-----END PRIVATE KEY-----\n",
			}},
		}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if got := c.DSN(); got != want.Storage.DSN {
		t.Errorf("DSN() = %q", got)
	}

	// The keys naming files are read through.
	fed, err := c.FederationConfigs()
	if err != nil {
		t.Fatal(err)
	}
	appleKey, err := os.ReadFile("testdata/apple.p8")
	if err != nil {
		t.Fatal(err)
	}
	if len(fed) != 7 || fed[0].ClientSecret != "gh-secret-from-file" || fed[1].ClientSecret != "corp-secret" ||
		fed[5].PrivateKey != strings.TrimSpace(string(appleKey)) || fed[6].PrivateKey != want.Federation.Providers[6].PrivateKey {
		t.Errorf("FederationConfigs() = %+v, want the secrets of client_secret_file and private_key_file read in", fed)
	}
	if pw, err := c.SMTPPassword(); err != nil || pw != "smtp-password-from-file" {
		t.Errorf("SMTPPassword() = %q, %v, want smtp.password_file's contents", pw, err)
	}
	if key, err := c.WebhookKey(1); err != nil || len(key) != 24 {
		t.Errorf("WebhookKey(1) = %d bytes, %v, want the 24-byte key of secret_file", len(key), err)
	}
	tokens, err := c.InitialAccessTokenList()
	if err != nil || !reflect.DeepEqual(tokens, []string{
		"Cf7/XD8RPXxgtp3toi/O7O0bg5SxzOOAL4BkDK5xUgU=",
		"Ct4sb1GvjS25PLIeutT2PgXA+Pd/ZVU3hvvyU6iyrIk=",
		"EpWrH8fD1K+LAET3FC4EvsN+7/wlF0nUZP1Q/deBGEI=",
	}) {
		t.Errorf("InitialAccessTokenList() = %q, %v, want the listed token and the file's two", tokens, err)
	}

	// The accessors take the file's values over their defaults.
	if rpID, rpName, origins := c.Passkeys(); rpID != "example.com" || rpName != "Example" || len(origins) != 2 {
		t.Errorf("Passkeys() = %q, %q, %q", rpID, rpName, origins)
	}
	if got := c.EventsRetention(); got != 720*time.Hour {
		t.Errorf("EventsRetention() = %s, want 720h", got)
	}
	if got := c.SigningPublishBefore(); got != 48*time.Hour {
		t.Errorf("SigningPublishBefore() = %s, want 48h", got)
	}
}

func TestDefaults(t *testing.T) {
	c, err := load(t, "", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"issuer", c.Issuer, "http://127.0.0.1:8080"},
		{"addr", c.Addr, "127.0.0.1:8080"},
		{"data_dir", c.DataDir, "./data"},
		{"dsn", c.DSN(), filepath.Join("data", "atrium.db")},
		{"signing.algorithm", c.Signing.Algorithm, "RS256"},
		{"signing.retire_after", c.Signing.RetireAfter.D, 24 * time.Hour},
		{"tokens.access_token_lifespan", c.Tokens.AccessTokenLifespan.D, time.Hour},
		{"tokens.refresh_token_lifespan", c.Tokens.RefreshTokenLifespan.D, 720 * time.Hour},
		{"tokens.id_token_lifespan", c.Tokens.IDTokenLifespan.D, time.Hour},
		{"tokens.authorize_code_lifespan", c.Tokens.AuthorizeCodeLifespan.D, 5 * time.Minute},
		{"session.lifespan", c.Session.Lifespan.D, 24 * time.Hour},
		{"session.interaction_lifespan", c.Session.InteractionLifespan.D, 30 * time.Minute},
		{"log.format", c.Log.Format, "json"},
		{"log.level", c.Log.Level, "info"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}

	dev := &Config{Dev: true, Addr: "0.0.0.0:8080"}
	dev.SetDefaults()
	if dev.Log.Format != "text" || dev.Issuer != "http://localhost:8080" {
		t.Errorf("dev defaults: format %q issuer %q", dev.Log.Format, dev.Issuer)
	}
	configured := &Config{Dev: true, Log: Log{Format: "json"}}
	configured.SetDefaults()
	if configured.Log.Format != "json" {
		t.Errorf("dev must keep a configured log format, got %q", configured.Log.Format)
	}
}

func TestEnvOverrides(t *testing.T) {
	env := map[string]string{
		"ATRIUM_ISSUER":                       "https://login.example.org",
		"ATRIUM_ADDR":                         "127.0.0.1:9999",
		"ATRIUM_DATA_DIR":                     "/srv/atrium",
		"ATRIUM_MASTER_SECRET":                strings.Repeat("x", 40),
		"ATRIUM_STORAGE_DSN":                  "postgres://root@127.0.0.1:5432/test",
		"ATRIUM_SIGNING_ALGORITHM":            "EdDSA",
		"ATRIUM_SIGNING_RETIRE_AFTER":         "72h",
		"ATRIUM_TOKENS_ACCESS_TOKEN_LIFESPAN": "5m",
		"ATRIUM_SESSION_INTERACTION_LIFESPAN": "10m",
		"ATRIUM_LOG_FORMAT":                   "text",
		"ATRIUM_LOG_LEVEL":                    "warn",
		"ATRIUM_USERS":                        `[{"email": "grace@example.com", "password": "correct horse battery staple"}]`,
		"ATRIUM_CLIENTS":                      "- id: svc\n  secret: s3cret-s3cret\n  grant_types: [client_credentials]\n",
		"ATRIUM_FEDERATION_PROVIDERS":         `[{"id": "google", "type": "google", "client_id": "g", "client_secret": "gs", "hosted_domain": "example.com"}]`,
	}
	c, err := load(t, "testdata/full.good.yaml", envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"issuer", c.Issuer, "https://login.example.org"},
		{"addr", c.Addr, "127.0.0.1:9999"},
		{"data_dir", c.DataDir, "/srv/atrium"},
		{"master_secret", c.MasterSecret, strings.Repeat("x", 40)},
		{"storage.dsn", c.Storage.DSN, "postgres://root@127.0.0.1:5432/test"},
		{"signing.algorithm", c.Signing.Algorithm, "EdDSA"},
		{"signing.retire_after", c.Signing.RetireAfter.D, 72 * time.Hour},
		{"tokens.access_token_lifespan", c.Tokens.AccessTokenLifespan.D, 5 * time.Minute},
		{"tokens.id_token_lifespan (from the file)", c.Tokens.IDTokenLifespan.D, 10 * time.Minute},
		{"session.interaction_lifespan", c.Session.InteractionLifespan.D, 10 * time.Minute},
		{"log.format", c.Log.Format, "text"},
		{"log.level", c.Log.Level, "warn"},
		{"users", len(c.Users), 1},
		{"users[0].email", c.Users[0].Email, "grace@example.com"},
		{"clients", len(c.Clients), 1},
		{"clients[0].id", c.Clients[0].ID, "svc"},
		{"federation.providers", len(c.Federation.Providers), 1},
		{"federation.providers[0].hosted_domain", c.Federation.Providers[0].HostedDomain, "example.com"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestBadEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"duration", map[string]string{"ATRIUM_TOKENS_ACCESS_TOKEN_LIFESPAN": "abc"},
			`tokens.access_token_lifespan (from ATRIUM_TOKENS_ACCESS_TOKEN_LIFESPAN): "abc" is not a duration`},
		{"algorithm", map[string]string{"ATRIUM_SIGNING_ALGORITHM": "none"},
			`signing.algorithm (from ATRIUM_SIGNING_ALGORITHM): "none" is not one of`},
		{"clients", map[string]string{"ATRIUM_CLIENTS": "- id: a\n  secrett: x\n"},
			"ATRIUM_CLIENTS: yaml: unmarshal errors:\n  line 2: field secrett not found"},
		{"federation provider", map[string]string{"ATRIUM_FEDERATION_PROVIDERS": `[{"id": "gh", "type": "github", "client_id": "a"}]`},
			`federation.providers[0] (from ATRIUM_FEDERATION_PROVIDERS): federation provider "gh": client_secret: must not be empty`},
		{"short master secret", map[string]string{"ATRIUM_MASTER_SECRET": "short"},
			"master_secret (from ATRIUM_MASTER_SECRET): must be at least 32 bytes, got 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, "", envOf(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "short\"") {
				t.Errorf("the error repeats a secret: %v", err)
			}
		})
	}
}

func TestCheckServe(t *testing.T) {
	secret := strings.Repeat("s", 32)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" means no error
	}{
		{"no master secret", Config{Issuer: "https://id.example.com"},
			"master_secret: required without --dev"},
		{"http issuer on a public host", Config{Issuer: "http://id.example.com", MasterSecret: secret},
			`issuer: "http://id.example.com" must use https unless its host is loopback`},
		{"http issuer on a private address", Config{Issuer: "http://10.0.0.5:8080", MasterSecret: secret},
			"must use https"},
		{"no issuer on a public address", Config{Addr: "0.0.0.0:8080", MasterSecret: secret},
			"issuer: required when addr"},
		{"http loopback issuer", Config{Issuer: "http://127.0.0.1:8080", MasterSecret: secret}, ""},
		{"http localhost issuer", Config{Issuer: "http://localhost:8080", MasterSecret: secret}, ""},
		{"http ::1 issuer", Config{Issuer: "http://[::1]:8080", MasterSecret: secret}, ""},
		{"derived loopback issuer", Config{MasterSecret: secret}, ""},
		{"https issuer", Config{Issuer: "https://id.example.com", MasterSecretFile: "testdata/full.good.yaml"}, ""},
		{"dev allows anything", Config{Dev: true, Issuer: "http://id.example.com"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.SetDefaults()
			err := c.CheckServe()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v does not contain %q", err, tc.want)
			}
		})
	}
	c := Config{}
	c.SetDefaults()
	err := c.CheckServe()
	if err == nil || !strings.Contains(err.Error(), "ATRIUM_MASTER_SECRET") || !strings.Contains(err.Error(), "--dev generates one") {
		t.Errorf("the refusal should say how to set the secret: %v", err)
	}
}

func TestMasterKey(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "master")
	if err := os.WriteFile(file, []byte("  "+strings.Repeat("k", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := (&Config{MasterSecretFile: file}).MasterKey()
	if err != nil || string(key) != strings.Repeat("k", 32) {
		t.Fatalf("MasterKey() = %q, %v", key, err)
	}
	if _, err := (&Config{}).MasterKey(); err != ErrNoMasterSecret {
		t.Fatalf("MasterKey() without a secret: %v", err)
	}
}

// The README documents every key and its environment variable.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skip("no README")
	}
	for _, k := range Keys() {
		if !strings.Contains(string(b), "`"+k+"`") || !strings.Contains(string(b), EnvName(k)) {
			t.Errorf("README.md does not document %s (%s)", k, EnvName(k))
		}
	}
}
