package authz

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/federation"
	"github.com/atrium-id/atrium/internal/mail"
	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// KeySet is what the provider needs of its signing keys.
type KeySet interface {
	// Signer signs ID tokens with the active key (kid in the header) and
	// decodes tokens signed by any published key.
	Signer() jwt.Signer
	// JWKSHandler serves the published public keys.
	JWKSHandler() http.Handler
}

// Stores are the stores the provider reads and writes.
type Stores struct {
	Clients     storage.ClientStore
	Users       storage.UserStore
	Credentials storage.CredentialStore
	Consents    storage.ConsentStore
	Sessions    storage.SessionStore
	Tokens      storage.TokenStore
	// Counters throttles sign-in, sign-up and reset attempts (throttle.go);
	// nil turns the limits off.
	Counters storage.CounterStore
	// Identities links users to upstream accounts; required when
	// Config.Federation has providers.
	Identities storage.IdentityStore
	// Audit keeps the audit events (audit.go); nil only logs them.
	Audit storage.AuditStore
	// Outbox keeps the back-channel logouts until they are delivered
	// (backchannel.go); nil keeps them in this process only.
	Outbox storage.OutboxStore
}

// Sealer encrypts secrets at rest, binding each to aad (a *secretbox.Box).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
}

// Config configures the provider. Zero durations take the defaults below.
type Config struct {
	// Issuer is the exact issuer identifier, e.g. https://id.example.com.
	Issuer string
	// Secret (at least 32 bytes) keys the HMAC of opaque tokens and codes.
	Secret []byte
	// SecureCookies marks cookies Secure; set when the issuer is https.
	SecureCookies bool

	AccessTokenLifespan   time.Duration // default 1h
	RefreshTokenLifespan  time.Duration // default 30 days
	IDTokenLifespan       time.Duration // default 1h
	AuthorizeCodeLifespan time.Duration // default 5m
	SessionLifespan       time.Duration // SSO session; default 24h
	InteractionLifespan   time.Duration // time to sign in and consent; default 30m

	// JWTAccessTokenLifespan caps the lifespan of JWT access tokens
	// (jwtaccess.go), which resource servers may accept until they
	// expire, revoked or not; default 10m.
	JWTAccessTokenLifespan time.Duration

	// ClientCacheTTL is how long a loaded client is reused before it is
	// read again (so how long a changed or deleted client may still be
	// honoured by a node); default 5s, negative to read it on every request.
	ClientCacheTTL time.Duration

	// ClientAuthDelay is how long a failed client authentication
	// (invalid_client) waits before its answer: it slows online guessing
	// of client secrets, and clients sending wrong credentials in a loop
	// take little from the others. Default 250ms, negative for none.
	ClientAuthDelay time.Duration

	// PAR is pushed authorization requests (par.go).
	PAR PAR
	// DPoP is sender-constrained tokens (dpop.go).
	DPoP DPoP
	// TokenExchange is OAuth 2.0 Token Exchange (tokenexchange.go).
	TokenExchange TokenExchange
	// Device is the device authorization grant (device.go).
	Device Device

	// LoginAttempts is how many failed sign-ins (or second-factor codes)
	// an account gets within 15 minutes before each further attempt waits
	// a backoff that doubles with every failure, from one second up to
	// 15 minutes (throttle.go; needs Stores.Counters); default 5,
	// negative for no limit.
	LoginAttempts int
	// LoginAttemptsPerIP is how many sign-in attempts one client address
	// gets per 15 minutes; default 100, negative for no limit.
	LoginAttemptsPerIP int
	// SignupsPerIP and ResetsPerIP are how many sign-ups and password
	// reset requests one client address gets per hour; default 20 each,
	// negative for no limit.
	SignupsPerIP int
	ResetsPerIP  int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// gives the client address (internal/clientip); none by default, so
	// the client address is the peer's.
	TrustedProxies []netip.Prefix

	// Federation is the upstream identity providers offered on the login
	// page; nil for none.
	Federation *federation.Registry
	// UpstreamTokens seals the upstream tokens kept for providers with
	// StoreTokens; required when one has it.
	UpstreamTokens Sealer

	// Factors issues and checks second factors (TOTP, recovery codes);
	// nil turns them off.
	Factors *login.Factors
	// MFARequired asks every user for a second factor at sign-in; those
	// without one set up an authenticator app then. Without it a user is
	// asked when they have set one up or the app asks (acr_values).
	MFARequired bool
	// RememberDevice is how long "remember this device" lets a browser
	// skip the second factor the operator's policy asks for; default 30
	// days, negative to not offer it.
	RememberDevice time.Duration
	// Passkeys runs the WebAuthn ceremonies of passkey sign-in; nil turns
	// passkeys off.
	Passkeys *login.PasskeyRelyingParty

	// ConsentPolicyVersion is the operator's consent policy version: a
	// consent given under another version does not count, so changing it
	// asks every user again. "" is a version like any other.
	ConsentPolicyVersion string

	// Scopes are the operator's scopes, offered besides the built-in
	// ones; Attributes are the operator's user attributes, which they may
	// release (claims.go).
	Scopes     []Scope
	Attributes []storage.AttributeDef

	// SignupFields are the profile fields the sign-up page asks for, in
	// order; nil for an optional name.
	SignupFields []SignupField

	// Mail sends the verification and password reset mails; nil writes
	// them to the log.
	Mail mail.Sender

	// Pages are the page templates (ParsePages); nil for the embedded ones
	// with the default theme.
	Pages *page.Set

	// Registration is dynamic client registration (register.go); its zero
	// value turns it off.
	Registration Registration
	// ClientIDMetadata is https URL client IDs resolved from their client
	// ID metadata documents (cimd.go); its zero value turns them off.
	ClientIDMetadata ClientIDMetadataDocuments

	// Resources are the operator's APIs (resource.go): resource
	// indicators name them, and their metadata is published.
	Resources []Resource

	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AccessTokenLifespan, time.Hour)
	def(&c.RefreshTokenLifespan, 30*24*time.Hour)
	def(&c.IDTokenLifespan, time.Hour)
	def(&c.AuthorizeCodeLifespan, 5*time.Minute)
	def(&c.JWTAccessTokenLifespan, 10*time.Minute)
	def(&c.SessionLifespan, 24*time.Hour)
	def(&c.InteractionLifespan, 30*time.Minute)
	def(&c.PAR.Lifespan, time.Minute)
	c.Device.setDefaults()
	if c.ClientCacheTTL == 0 {
		c.ClientCacheTTL = 5 * time.Second
	}
	if c.ClientAuthDelay == 0 {
		c.ClientAuthDelay = 250 * time.Millisecond
	}
	def(&c.RememberDevice, 30*24*time.Hour)
	if c.SignupFields == nil {
		c.SignupFields = defaultSignupFields
	}
	for _, d := range []struct {
		n *int
		v int
	}{{&c.LoginAttempts, 5}, {&c.LoginAttemptsPerIP, 100}, {&c.SignupsPerIP, 20}, {&c.ResetsPerIP, 20}} {
		if *d.n == 0 {
			*d.n = d.v
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Registration.setDefaults()
	c.ClientIDMetadata.setDefaults()
}

func (c *Config) validate() error {
	var errs []error
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		errs = append(errs, errors.New("issuer is required"))
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		errs = append(errs, fmt.Errorf("issuer %q is not an absolute http(s) URL", c.Issuer))
	case u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, fmt.Errorf("issuer %q must not have a query or fragment", c.Issuer))
	}
	if err := validateSignupFields(c.SignupFields); err != nil {
		errs = append(errs, err)
	}
	if len(c.Secret) < 32 {
		errs = append(errs, errors.New("secret must be at least 32 bytes"))
	}
	if err := c.Registration.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := validateResources(c.Resources); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
