package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/atrium-id/atrium/internal/clientip"
)

// Config is every setting of Atrium. Zero values are filled by SetDefaults.
type Config struct {
	// Issuer is the exact issuer identifier, e.g. https://id.example.com.
	Issuer string `yaml:"issuer"`
	// Addr is the host:port the server listens on.
	Addr string `yaml:"addr"`
	// DataDir is the folder of the embedded database (and, with --dev, of
	// the generated master secret).
	DataDir string `yaml:"data_dir"`
	// MasterSecret (at least 32 bytes) seals signing keys and derives the
	// token HMAC key. MasterSecretFile names a file holding it instead.
	MasterSecret     string `yaml:"master_secret"`
	MasterSecretFile string `yaml:"master_secret_file"`

	Storage Storage `yaml:"storage"`
	Redis   Redis   `yaml:"redis"`
	Signing Signing `yaml:"signing"`
	Tokens  Tokens  `yaml:"tokens"`
	Session Session `yaml:"session"`
	Login   Login   `yaml:"login"`
	Signup  Signup  `yaml:"signup"`
	SMTP    SMTP    `yaml:"smtp"`
	Log     Log     `yaml:"log"`

	// Federation is the upstream identity providers ("Continue with ...").
	Federation Federation `yaml:"federation"`

	// UI brands the pages.
	UI UI `yaml:"ui"`
	// WebAuthn is the relying party of passkeys (webauthn.go).
	WebAuthn WebAuthn `yaml:"webauthn"`

	// TrustedProxies are the reverse proxies (CIDR prefixes or addresses)
	// whose X-Forwarded-For header names the client address, for the
	// rate limits and audit events; none by default.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Audit keeps the audit events.
	Audit Audit `yaml:"audit"`
	// Consent is the consent screen's policy.
	Consent Consent `yaml:"consent"`
	// Events delivers the outbox to downstream systems (events.go).
	Events Events `yaml:"events"`
	// PAR is pushed authorization requests (par.go).
	PAR PAR `yaml:"par"`
	// DPoP is sender-constrained tokens (dpop.go).
	DPoP DPoP `yaml:"dpop"`
	// TokenExchange is OAuth 2.0 Token Exchange (tokenexchange.go).
	TokenExchange TokenExchange `yaml:"token_exchange"`
	// Device is the device authorization grant (device.go).
	Device Device `yaml:"device"`
	// Registration is dynamic client registration (registration.go).
	Registration Registration `yaml:"registration"`
	// ClientIDMetadataDocuments are https URL client IDs (cimd.go).
	ClientIDMetadataDocuments ClientIDMetadataDocuments `yaml:"client_id_metadata_documents"`
	// Attributes and Scopes are the operator's own user attributes and
	// the scopes releasing them (claims.go).
	Attributes []Attribute `yaml:"attributes"`
	Scopes     []Scope     `yaml:"scopes"`
	// Resources are the operator's APIs (resources.go).
	Resources []Resource `yaml:"resources"`

	// Clients and Users are upserted by serve at start.
	Clients []Client `yaml:"clients"`
	Users   []User   `yaml:"users"`

	// Dev is serve's --dev mode. It is not a file key.
	Dev bool `yaml:"-"`

	// from maps a key path to the environment variable that set it.
	from map[string]string
}

// Storage selects the durable store.
type Storage struct {
	// DSN is a postgres:// URL or a SQLite file path; empty means
	// <data_dir>/atrium.db.
	DSN string `yaml:"dsn"`
}

// Audit configures the audit events.
type Audit struct {
	// Retention is how long events are kept; default 400 days.
	Retention Duration `yaml:"retention"`
}

// Consent is the operator's consent policy.
type Consent struct {
	// PolicyVersion names the version of the operator's consent policy
	// (e.g. "2031-03"); changing it asks every user for consent again.
	PolicyVersion string `yaml:"policy_version"`
	// Purposes are what the operator sends messages for (newsletters,
	// marketing); users opt into each per channel (purposes.go).
	Purposes []Purpose `yaml:"purposes"`
}

// MaxPolicyVersion is the longest consent.policy_version.
const MaxPolicyVersion = 100

// DefaultAuditRetention is audit.retention's default: 400 days.
const DefaultAuditRetention = 400 * 24 * time.Hour

// Login tunes local sign-in.
type Login struct {
	// MaxAttempts is how many failed sign-ins an account gets within 15
	// minutes before each further attempt waits a doubling backoff; 0
	// means the default (5), -1 no limit.
	MaxAttempts int `yaml:"max_attempts"`
	// AttemptsPerIP is how many sign-in attempts one client address (an
	// IPv6 address by its /64) gets per 15 minutes; 0 means the default
	// (100), -1 no limit.
	AttemptsPerIP int `yaml:"attempts_per_ip"`
	// RequireMFA asks every user for a second factor; users without one
	// set up an authenticator app at their next sign-in. Without it, users
	// who set one up, and apps that ask (acr_values), get the second step.
	RequireMFA bool `yaml:"require_mfa"`
	// RememberDevice is how long "remember this device" skips the second
	// factor in a browser; 0 means the default (30 days), a negative
	// duration turns the offer off.
	RememberDevice Duration `yaml:"remember_device"`
}

// Signup tunes the sign-up page.
type Signup struct {
	// Fields are the profile fields the page asks for, in order; empty
	// means an optional name.
	Fields []SignupField `yaml:"fields"`
}

// SignupField is a profile field of the sign-up page, named by its OpenID
// claim (name, given_name, family_name, nickname, phone_number).
type SignupField struct {
	Claim    string `yaml:"claim"`
	Required bool   `yaml:"required"`
}

// SMTP is the server the provider submits its mails to (verification,
// password reset). Without a host, mails are written to the log, which is
// only acceptable with --dev.
type SMTP struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"` // default 587
	// Username and Password authenticate (AUTH PLAIN, or LOGIN); none
	// without a username. PasswordFile names a file holding the password.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// From is the sender, e.g. "Atrium <id@example.com>".
	From string `yaml:"from"`
	// StartTLS is auto (when offered; the default), required or off.
	StartTLS string `yaml:"starttls"`
}

// SMTPStartTLS are the values of smtp.starttls.
var SMTPStartTLS = []string{"auto", "required", "off"}

// SMTPPassword returns smtp.password, or the contents of
// smtp.password_file with surrounding white space removed.
func (c *Config) SMTPPassword() (string, error) {
	if c.SMTP.PasswordFile == "" {
		return c.SMTP.Password, nil
	}
	b, err := os.ReadFile(c.SMTP.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("%s: %w", c.key("smtp.password_file"), err)
	}
	return string(bytes.TrimSpace(b)), nil
}

// Redis moves the short-lived shared state (sessions, codes, tokens) to
// Redis, so several nodes can serve one deployment.
type Redis struct {
	// URL is redis://, rediss://, a Cluster seed list
	// (redis://h1:p1,h2:p2,...) or redis+sentinel://h1:p1,h2:p2/primary.
	// Empty keeps that state in the durable store.
	URL string `yaml:"url"`
	// Prefix starts every key, so deployments can share a Redis.
	Prefix string `yaml:"prefix"`
}

// Signing configures the ID token signing keys (signing.go).
type Signing struct {
	Algorithm string `yaml:"algorithm"` // RS256, ES256 or EdDSA
	// RetireAfter is how long a rotated-out key stays published: at least
	// the longest signed token's lifespan plus a margin (MinRetireAfter);
	// default that or 24h, whichever is longer.
	RetireAfter Duration `yaml:"retire_after"`
	// RotateEvery is how long a key signs before the next one replaces
	// it; 0 (the default) rotates only by hand (atrium keys rotate).
	RotateEvery Duration `yaml:"rotate_every"`
	// PublishBefore is how long the next key is in the JWKS before it
	// signs; default 24h.
	PublishBefore Duration `yaml:"publish_before"`
}

// Tokens sets the lifespans of what the token endpoint issues.
type Tokens struct {
	AccessTokenLifespan   Duration `yaml:"access_token_lifespan"`
	RefreshTokenLifespan  Duration `yaml:"refresh_token_lifespan"`
	IDTokenLifespan       Duration `yaml:"id_token_lifespan"`
	AuthorizeCodeLifespan Duration `yaml:"authorize_code_lifespan"`
	// JWTAccessTokenLifespan caps the lifespan of JWT access tokens
	// (clients with access_token_format jwt); 0 means the provider's
	// default, 10m (resources.go).
	JWTAccessTokenLifespan Duration `yaml:"jwt_access_token_lifespan"`
}

// Session sets the lifespans of browser state.
type Session struct {
	// Lifespan is the SSO session's.
	Lifespan Duration `yaml:"lifespan"`
	// InteractionLifespan is the time a person has to sign in and consent.
	InteractionLifespan Duration `yaml:"interaction_lifespan"`
}

// Log configures the server's log.
type Log struct {
	Format string `yaml:"format"` // json or text
	Level  string `yaml:"level"`  // debug, info, warn or error
}

// Client is a relying party declared in the config file.
type Client struct {
	ID                      string   `yaml:"id"`
	Secret                  string   `yaml:"secret"`
	Name                    string   `yaml:"name"`
	RedirectURIs            []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs  []string `yaml:"post_logout_redirect_uris"`
	GrantTypes              []string `yaml:"grant_types"`
	Scopes                  []string `yaml:"scopes"`
	Public                  bool     `yaml:"public"`
	TokenEndpointAuthMethod string   `yaml:"token_endpoint_auth_method"`
	// JWKSFile is the client's public key set, for private_key_jwt.
	JWKSFile string `yaml:"jwks_file"`
	// IDTokenSignedResponseAlg is the algorithm of the client's ID tokens
	// (RS256, ES256, EdDSA); empty for signing.algorithm.
	IDTokenSignedResponseAlg string `yaml:"id_token_signed_response_alg"`
	// FirstParty marks the operator's own app: its users are not asked
	// for consent.
	FirstParty bool `yaml:"first_party"`
	// Resources are the URIs of the resources (APIs) the client may ask
	// for with resource indicators (resources.go).
	Resources []string `yaml:"resources"`
	// AccessTokenFormat is opaque (the default) or jwt (RFC 9068).
	AccessTokenFormat string `yaml:"access_token_format"`
	// SubjectType is public (the default) or pairwise; Sector is the host
	// a pairwise client's subs are computed for, by default the one host
	// of its redirect URIs (subject.go).
	SubjectType string `yaml:"subject_type"`
	Sector      string `yaml:"sector"`
	// TokenExchange widens whose tokens the client may exchange
	// (tokenexchange.go).
	TokenExchange *ClientTokenExchange `yaml:"token_exchange"`
	// RequestObjectSigningAlg is the one algorithm the client's request
	// objects may use (none: unsigned); empty for any of
	// RequestObjectAlgs.
	RequestObjectSigningAlg string `yaml:"request_object_signing_alg"`
	// RequestURIs are the URLs where the client publishes request objects
	// it names with request_uri (requestobject.go).
	RequestURIs []string `yaml:"request_uris"`
}

// User is an end user declared in the config file.
type User struct {
	Email    string `yaml:"email"`
	Password string `yaml:"password"`
	Name     string `yaml:"name"`
}

// Duration is a Go duration string such as "90s", "1h" or "720h". A value
// that does not parse is kept and reported by Validate, with its key.
type Duration struct {
	D   time.Duration
	raw string
	bad bool
}

// UnmarshalText records s; it never fails so that Validate can report every
// bad value at once.
func (d *Duration) UnmarshalText(b []byte) error {
	d.raw = strings.TrimSpace(string(b))
	v, err := time.ParseDuration(d.raw)
	d.D, d.bad = v, err != nil
	return nil
}

// MarshalText writes the duration in Go syntax.
func (d Duration) MarshalText() ([]byte, error) {
	if d.bad {
		return []byte(d.raw), nil
	}
	return []byte(d.D.String()), nil
}

// Defaults.
const (
	DefaultAddr      = "127.0.0.1:8080"
	DefaultDataDir   = "./data"
	DefaultAlgorithm = "RS256"
)

// Accepted values.
var (
	Algorithms = []string{"RS256", "ES256", "EdDSA"}
	LogFormats = []string{"json", "text"}
	LogLevels  = []string{"debug", "info", "warn", "error"}
)

// MinMasterSecret is the shortest master secret accepted, in bytes.
const MinMasterSecret = 32

// EnvPrefix starts every environment variable Atrium reads.
const EnvPrefix = "ATRIUM_"

// EnvName is the environment variable overriding the key path, e.g.
// "tokens.access_token_lifespan" -> ATRIUM_TOKENS_ACCESS_TOKEN_LIFESPAN.
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// Load reads the YAML file at path (none when path is "") strictly, then
// applies ATRIUM_* overrides read with getenv. It does not set defaults or
// validate; call SetDefaults and Validate after applying flags.
func Load(path string, getenv func(string) string) (*Config, error) {
	c := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := Parse(b, c); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if getenv != nil {
		if err := c.applyEnv(getenv); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	return c, nil
}

// Parse decodes a YAML document into c, refusing unknown keys. Every
// unknown key is reported, by its full path.
func Parse(b []byte, c *Config) error {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return err
	}
	if len(root.Content) == 0 {
		return nil // empty document
	}
	if errs := unknownKeys(root.Content[0], reflect.TypeFor[Config](), ""); len(errs) > 0 {
		return errors.Join(errs...)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// unknownKeys walks a decoded node against the type it will be decoded
// into and reports keys the type does not have.
func unknownKeys(n *yaml.Node, t reflect.Type, path string) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct && t != reflect.TypeFor[Duration]():
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fieldByTag(t, k.Value)
			p := join(path, k.Value)
			if !ok {
				errs = append(errs, fmt.Errorf("line %d: %s: unknown key", k.Line, p))
				continue
			}
			errs = append(errs, unknownKeys(v, f.Type, p)...)
		}
		return errs
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		var errs []error
		for i, v := range n.Content {
			errs = append(errs, unknownKeys(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return errs
	}
	return nil
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" && opts == "inline" && f.Type.Kind() == reflect.Struct {
			if inner, ok := fieldByTag(f.Type, key); ok {
				return inner, true
			}
			continue
		}
		if name == key && name != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Keys lists every key path, in file order, e.g. "tokens.id_token_lifespan".
// Lists (clients, users, federation.providers) are one key each.
func Keys() []string {
	var keys []string
	walk(reflect.ValueOf(&Config{}).Elem(), "", func(path string, _ reflect.Value) {
		keys = append(keys, path)
	})
	return keys
}

// walk calls fn for every leaf key of v: strings, bools, durations and lists.
func walk(v reflect.Value, path string, fn func(path string, v reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fv, p := v.Field(i), join(path, name)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]() {
			walk(fv, p, fn)
			continue
		}
		fn(p, fv)
	}
}

// applyEnv sets every key whose ATRIUM_* variable is non-empty. Lists
// (ATRIUM_CLIENTS, ATRIUM_USERS, ATRIUM_FEDERATION_PROVIDERS) are YAML or
// JSON documents.
func (c *Config) applyEnv(getenv func(string) string) error {
	var errs []error
	walk(reflect.ValueOf(c).Elem(), "", func(path string, v reflect.Value) {
		name := EnvName(path)
		s := getenv(name)
		if s == "" {
			return
		}
		if c.from == nil {
			c.from = map[string]string{}
		}
		c.from[path] = name
		switch p := v.Addr().Interface().(type) {
		case *string:
			*p = s
		case *bool:
			b, err := strconv.ParseBool(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not a boolean", name, s))
			}
			*p = b
		case *Duration:
			_ = p.UnmarshalText([]byte(s))
		default:
			dec := yaml.NewDecoder(strings.NewReader(s))
			dec.KnownFields(true)
			if err := dec.Decode(p); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// key names a key path in a message, with the variable that set it if any.
func (c *Config) key(path string) string {
	if env, ok := c.from[path]; ok {
		return path + " (from " + env + ")"
	}
	return path
}

// SetDefaults fills every unset key. The issuer defaults to http://<addr>
// when addr is a loopback address (or in dev mode, where an unspecified
// host becomes localhost).
func (c *Config) SetDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defDur := func(d *Duration, v time.Duration) {
		if d.raw == "" && d.D == 0 {
			d.D = v
		}
	}
	def(&c.Addr, DefaultAddr)
	def(&c.DataDir, DefaultDataDir)
	def(&c.Signing.Algorithm, DefaultAlgorithm)
	def(&c.Redis.Prefix, "atrium:")
	defDur(&c.Tokens.AccessTokenLifespan, time.Hour)
	defDur(&c.Tokens.RefreshTokenLifespan, 720*time.Hour)
	defDur(&c.Tokens.IDTokenLifespan, time.Hour)
	defDur(&c.Tokens.AuthorizeCodeLifespan, 5*time.Minute)
	c.setSigningDefaults()
	defDur(&c.Session.Lifespan, 24*time.Hour)
	defDur(&c.Session.InteractionLifespan, 30*time.Minute)
	defDur(&c.Audit.Retention, DefaultAuditRetention)
	if c.Dev {
		def(&c.Log.Format, "text")
	}
	def(&c.Log.Format, "json")
	def(&c.Log.Level, "info")
	if c.Issuer == "" {
		if host, port, err := net.SplitHostPort(c.Addr); err == nil {
			switch {
			case isLoopback(host):
				c.Issuer = "http://" + c.Addr
			case c.Dev && (host == "" || net.ParseIP(host).IsUnspecified()):
				c.Issuer = "http://" + net.JoinHostPort("localhost", port)
			}
		}
	}
	c.setClaimDefaults()
	for i := range c.Clients {
		cl := &c.Clients[i]
		if len(cl.GrantTypes) == 0 {
			cl.GrantTypes = append([]string(nil), DefaultGrantTypes...)
		}
		if len(cl.Scopes) == 0 {
			cl.Scopes = append([]string(nil), DefaultScopes...)
		}
		if cl.TokenEndpointAuthMethod == AuthNone {
			cl.Public = true
		}
		if cl.TokenEndpointAuthMethod == "" {
			cl.TokenEndpointAuthMethod = DefaultAuthMethod
			if cl.Public {
				cl.TokenEndpointAuthMethod = AuthNone
			}
		}
	}
}

// TrustedProxyPrefixes returns trusted_proxies parsed (Validate reports
// a bad entry).
func (c *Config) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	p, err := clientip.ParsePrefixes(c.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.key("trusted_proxies"), err)
	}
	return p, nil
}

// DSN is the durable store's data source: storage.dsn, or the SQLite file
// in the data folder.
func (c *Config) DSN() string {
	if c.Storage.DSN != "" {
		return c.Storage.DSN
	}
	return filepath.Join(c.DataDir, "atrium.db")
}

// UsesDataDir reports whether the durable store lives in the data folder.
func (c *Config) UsesDataDir() bool { return c.Storage.DSN == "" }

// ErrNoMasterSecret is returned by MasterKey when none is configured.
var ErrNoMasterSecret = errors.New("no master secret configured")

// MasterKey returns the configured master secret: master_secret, or the
// contents of master_secret_file with surrounding white space removed.
func (c *Config) MasterKey() ([]byte, error) {
	switch {
	case c.MasterSecret != "":
		return []byte(c.MasterSecret), nil
	case c.MasterSecretFile != "":
		b, err := os.ReadFile(c.MasterSecretFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.key("master_secret_file"), err)
		}
		return bytes.TrimSpace(b), nil
	}
	return nil, ErrNoMasterSecret
}

// Validate reports every malformed key at once, each message naming its key.
// It applies to every command; CheckServe adds what a server needs.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{c.key(path)}, args...)...))
	}

	if c.Issuer != "" {
		u, err := url.Parse(c.Issuer)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			bad("issuer", "%q is not an absolute http(s) URL", c.Issuer)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			bad("issuer", "%q must not have a query, fragment or user info", c.Issuer)
		}
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr", "%q is not host:port", c.Addr)
	}
	if c.DataDir == "" && c.Storage.DSN == "" {
		bad("data_dir", "must not be empty")
	}
	if c.MasterSecret != "" && c.MasterSecretFile != "" {
		bad("master_secret", "set either master_secret or master_secret_file, not both")
	} else if key, err := c.MasterKey(); err == nil && len(key) < MinMasterSecret {
		src := "master_secret"
		if c.MasterSecret == "" {
			src = "master_secret_file"
		}
		bad(src, "must be at least %d bytes, got %d (generate one with `openssl rand -base64 32`)", MinMasterSecret, len(key))
	} else if err != nil && !errors.Is(err, ErrNoMasterSecret) {
		errs = append(errs, err)
	}
	if c.Redis.URL != "" {
		scheme, _, _ := strings.Cut(c.Redis.URL, "://")
		if !slices.Contains([]string{"redis", "rediss", "redis+sentinel", "rediss+sentinel"}, scheme) {
			bad("redis.url", "must start with redis://, rediss://, redis+sentinel:// or rediss+sentinel://")
		}
	}
	switch rd := c.Login.RememberDevice; {
	case rd.bad:
		bad("login.remember_device", "%q is not a duration (use Go syntax such as 720h)", rd.raw)
	case rd.D < 0:
		bad("login.remember_device", "must not be negative, got %s", rd.D)
	}
	if c.Login.RememberDevice.D > 400*24*time.Hour {
		bad("login.remember_device", "must be at most 400 days (browsers cap cookie lifetimes there), got %s", c.Login.RememberDevice.D)
	}
	if c.Login.MaxAttempts < -1 {
		bad("login.max_attempts", "must be -1 (no limit), 0 (the default, 5) or positive, got %d", c.Login.MaxAttempts)
	}
	if c.Login.AttemptsPerIP < -1 {
		bad("login.attempts_per_ip", "must be -1 (no limit), 0 (the default, 100) or positive, got %d", c.Login.AttemptsPerIP)
	}
	if _, err := clientip.ParsePrefixes(c.TrustedProxies); err != nil {
		bad("trusted_proxies", "%v", err)
	}
	if v := c.Consent.PolicyVersion; utf8.RuneCountInString(v) > MaxPolicyVersion || strings.IndexFunc(v, unicode.IsControl) >= 0 || strings.TrimSpace(v) != v {
		bad("consent.policy_version", "must be at most %d characters, without control characters or surrounding spaces, got %q", MaxPolicyVersion, v)
	}
	errs = append(errs, c.validateSMTP()...)
	errs = append(errs, c.validatePurposes()...)
	errs = append(errs, c.validateEvents()...)
	errs = append(errs, c.validatePAR()...)
	errs = append(errs, c.validateDevice()...)
	errs = append(errs, c.validateSigning()...)
	if !slices.Contains(Algorithms, c.Signing.Algorithm) {
		bad("signing.algorithm", "%q is not one of %s", c.Signing.Algorithm, strings.Join(Algorithms, ", "))
	}
	for _, d := range []struct {
		path string
		d    Duration
	}{
		{"signing.retire_after", c.Signing.RetireAfter},
		{"tokens.access_token_lifespan", c.Tokens.AccessTokenLifespan},
		{"tokens.refresh_token_lifespan", c.Tokens.RefreshTokenLifespan},
		{"tokens.id_token_lifespan", c.Tokens.IDTokenLifespan},
		{"tokens.authorize_code_lifespan", c.Tokens.AuthorizeCodeLifespan},
		{"session.lifespan", c.Session.Lifespan},
		{"session.interaction_lifespan", c.Session.InteractionLifespan},
		{"audit.retention", c.Audit.Retention},
	} {
		switch {
		case d.d.bad:
			bad(d.path, "%q is not a duration (use Go syntax such as 90s, 15m, 1h, 720h)", d.d.raw)
		case d.d.D <= 0:
			bad(d.path, "must be positive, got %s", d.d.D)
		}
	}
	if !slices.Contains(LogFormats, c.Log.Format) {
		bad("log.format", "%q is not one of %s", c.Log.Format, strings.Join(LogFormats, ", "))
	}
	if !slices.Contains(LogLevels, c.Log.Level) {
		bad("log.level", "%q is not one of %s", c.Log.Level, strings.Join(LogLevels, ", "))
	}
	errs = append(errs, c.validateClaims()...)
	errs = append(errs, c.validateClients()...)
	errs = append(errs, c.validateSubjects()...)
	errs = append(errs, c.validateTokenExchange()...)
	errs = append(errs, c.validateResources()...)
	errs = append(errs, c.validateRegistration()...)
	errs = append(errs, c.validateCIMD()...)
	errs = append(errs, c.validateUsers()...)
	errs = append(errs, c.validateFederation()...)
	errs = append(errs, c.validateUI()...)
	errs = append(errs, c.validateWebAuthn()...)
	return errors.Join(errs...)
}

func (c *Config) validateSMTP() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{c.key(path)}, args...)...))
	}
	m := c.SMTP
	if m.Port < 0 || m.Port > 65535 {
		bad("smtp.port", "%d is not a TCP port", m.Port)
	}
	if m.StartTLS != "" && !slices.Contains(SMTPStartTLS, m.StartTLS) {
		bad("smtp.starttls", "%q is not one of %s", m.StartTLS, strings.Join(SMTPStartTLS, ", "))
	}
	if m.Password != "" && m.PasswordFile != "" {
		bad("smtp.password", "set either smtp.password or smtp.password_file, not both")
	}
	if (m.Password != "" || m.PasswordFile != "") && m.Username == "" {
		bad("smtp.username", "required with a password")
	}
	if m.Host == "" {
		if m.Username != "" || m.From != "" {
			bad("smtp.host", "required when other smtp keys are set")
		}
		return errs
	}
	if m.From == "" {
		bad("smtp.from", "required with smtp.host, e.g. \"Atrium <id@example.com>\"")
	} else if _, err := mail.ParseAddress(m.From); err != nil {
		bad("smtp.from", "%q is not an email address", m.From)
	}
	if m.Username != "" && m.StartTLS == "off" && !isLoopback(m.Host) {
		bad("smtp.starttls", "off with a username would send the password in clear text; only allowed for a loopback host")
	}
	return errs
}

// CheckServe reports what stops the server from starting outside --dev: a
// missing master secret, a missing issuer, or an issuer that is neither
// https nor on a loopback host.
func (c *Config) CheckServe() error {
	if c.Dev {
		return nil
	}
	var errs []error
	if c.MasterSecret == "" && c.MasterSecretFile == "" {
		errs = append(errs, fmt.Errorf("master_secret: required without --dev: set master_secret or master_secret_file in the config file "+
			"(or %s / %s) to at least %d random bytes, e.g. `openssl rand -base64 32`; serve --dev generates one into the data folder",
			EnvName("master_secret"), EnvName("master_secret_file"), MinMasterSecret))
	}
	if c.Issuer == "" {
		errs = append(errs, fmt.Errorf("issuer: required when addr %q is not a loopback address: set it to the public https URL of this server, e.g. https://id.example.com", c.Addr))
	} else if u, err := url.Parse(c.Issuer); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		errs = append(errs, fmt.Errorf("%s: %q must use https unless its host is loopback (127.0.0.0/8, ::1, localhost): "+
			"codes, tokens and session cookies would travel in clear text", c.key("issuer"), c.Issuer))
	}
	return errors.Join(errs...)
}

// isLoopback reports whether host is localhost or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
