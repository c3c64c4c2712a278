package storage

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"
)

// Sentinel errors returned by every backend; compare with errors.Is.
var (
	// ErrNotFound: no record with that key (or it has expired).
	ErrNotFound = errors.New("storage: not found")
	// ErrAlreadyExists: a record with that key, or a unique field, exists.
	ErrAlreadyExists = errors.New("storage: already exists")
	// ErrConflict: the record changed underneath the caller.
	ErrConflict = errors.New("storage: conflict")
)

// Page asks for one page of a listing ordered by ID: the records whose ID
// sorts after After, at most Limit of them (0 means a backend default of 100;
// backends cap Limit at 1000).
type Page struct {
	After string
	Limit int
}

// Client is a relying party registered with the provider.
type Client struct {
	ID string
	// SecretHash is the SHA-256 digest of the client secret; empty for
	// public clients and for private_key_jwt clients.
	SecretHash              []byte
	Name                    string
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	ResponseTypes           []string
	Scopes                  []string
	Audience                []string
	Public                  bool
	TokenEndpointAuthMethod string // client_secret_basic, client_secret_post, private_key_jwt, none
	// JWKS is a JSON Web Key Set document (raw JSON) for private_key_jwt.
	JWKS    []byte
	JWKSURI string
	// IDTokenSignedResponseAlg is the algorithm of the client's ID tokens
	// (RS256, ES256, EdDSA); empty for the provider's default.
	IDTokenSignedResponseAlg string
	LogoURI                  string
	PolicyURI                string
	TOSURI                   string
	// FirstParty marks the operator's own apps: their users are not asked
	// for consent (unless the request has prompt=consent).
	FirstParty bool
	// Contacts are the e-mail addresses of the people responsible for the
	// client.
	Contacts []string
	// ApplicationType is "web" or "native" (OpenID Connect Dynamic Client
	// Registration §2); empty for web.
	ApplicationType string
	// ClientURI is the home page of the client, shown to users.
	ClientURI string
	// UserinfoSignedResponseAlg is the algorithm the userinfo response is
	// signed with (a JWT, application/jwt); empty for plain JSON.
	UserinfoSignedResponseAlg string
	// RequestObjectSigningAlg is the only algorithm the client's request
	// objects may be signed with; empty for any the provider supports.
	RequestObjectSigningAlg string
	// RequestURIs are the request_uri values the client may send.
	RequestURIs []string
	// FrontchannelLogoutURI is loaded in an iframe when the user signs
	// out; FrontchannelLogoutSessionRequired asks for iss and sid on it.
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool
	// BackchannelLogoutURI receives a logout token when the user signs
	// out; BackchannelLogoutSessionRequired asks for sid in it.
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
	// DefaultMaxAge is the max_age in seconds applied to the client's
	// authorization requests that carry none; 0 for none.
	DefaultMaxAge int
	// RequireAuthTime puts auth_time into every ID token of the client.
	RequireAuthTime bool
	// AccessTokenFormat is the format of the client's access tokens: ""
	// or "opaque" for opaque tokens, "jwt" for RFC 9068 JWTs.
	AccessTokenFormat string
	// DPoPBoundAccessTokens makes the client's access tokens DPoP-bound
	// (RFC 9449): a token request without a DPoP proof is refused.
	DPoPBoundAccessTokens bool
	// SoftwareID and SoftwareVersion identify the client software
	// (RFC 7591 §2).
	SoftwareID      string
	SoftwareVersion string
	// SubjectType is "pairwise" when the client sees each user under a
	// sub of its own sector (OpenID Connect Core §8.1); "" or "public"
	// when it sees the user's ID.
	SubjectType string
	// SectorIdentifierURI is the https URL of the client's sector
	// identifier document (OpenID Connect Registration §5), if any.
	SectorIdentifierURI string
	// Sector is the host pairwise subs are computed for: the
	// sector_identifier_uri's, or the one host of the redirect URIs, or
	// one the operator named.
	Sector string
	// Registration is how the client came to be: "" by the operator
	// (configuration or CLI), "dynamic" registered over HTTP (RFC 7591).
	Registration string
	// RegistrationAccessTokenHash is the SHA-256 digest of the RFC 7592
	// registration access token that manages a dynamically registered
	// client; compare in constant time. Empty for other clients.
	RegistrationAccessTokenHash []byte
	// ClientSecretExpiresAt is when the client secret expires; zero for
	// never.
	ClientSecretExpiresAt time.Time
	CreatedAt             time.Time
	UpdatedAt             time.Time
}

// Address is the OpenID Connect address claim.
type Address struct {
	Formatted     string `json:"formatted,omitempty"`
	StreetAddress string `json:"street_address,omitempty"`
	Locality      string `json:"locality,omitempty"`
	Region        string `json:"region,omitempty"`
	PostalCode    string `json:"postal_code,omitempty"`
	Country       string `json:"country,omitempty"`
}

// User is an end user. ID is opaque and stable and is the OpenID subject.
// Email is unique without regard to case; backends store it lower-cased.
type User struct {
	ID                  string
	Email               string
	EmailVerified       bool
	Name                string
	GivenName           string
	FamilyName          string
	Nickname            string
	Picture             string
	Locale              string
	Zoneinfo            string
	PhoneNumber         string
	PhoneNumberVerified bool
	Address             Address
	Disabled            bool
	CreatedAt           time.Time
	UpdatedAt           time.Time
	// Attributes are the operator-defined attributes (AttributeDef) by
	// name; empty when the user has none.
	Attributes map[string]any
}

// Credential types. Passkeys are the one type a user may hold several of;
// of every other type a user holds at most one.
const (
	CredentialPassword      = "password"
	CredentialTOTP          = "totp"
	CredentialRecoveryCodes = "recovery_codes"
	CredentialPasskey       = "passkey"
)

// Credential is a secret a user signs in with. For passwords Secret is a
// PHC-formatted argon2id hash.
//
// ID identifies the credential among the user's. For CredentialPasskey the
// caller sets it to the WebAuthn credential ID (base64url), and a user may
// hold several passkeys, one per ID. For every other type a user holds at
// most one credential, and the store sets ID to UserID + ":" + Type
// whatever the caller passed.
type Credential struct {
	ID        string
	UserID    string
	Type      string
	Secret    []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Identity links a user to an account at an upstream identity provider.
// (Provider, Subject) is unique.
type Identity struct {
	ID       string
	UserID   string
	Provider string
	Subject  string
	Email    string
	Claims   []byte // the upstream claims as JSON
	// Tokens are the upstream's tokens, sealed by the caller (AES-256-GCM);
	// empty unless the provider is configured to keep them. Storage never
	// sees them in the clear.
	Tokens    []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Consent records the scopes a user granted a client, those they
// declined, and the resources they let it reach.
type Consent struct {
	UserID   string
	ClientID string
	Scopes   []string
	// Declined are the scopes the user left unticked on the consent
	// screen: remembered so the app's next request does not ask again,
	// and never granted. A scope is in Scopes or Declined, not both.
	Declined []string
	// Resources are the URIs of the resources (the operator's APIs) the
	// user let the client reach on their behalf: an authorization request
	// naming another asks them again.
	Resources []string
	// PolicyVersion is the operator's consent policy version the user
	// agreed under; a consent given under another version does not count.
	PolicyVersion string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Consent ledger actions.
const (
	ConsentGranted = "granted"
	ConsentRevoked = "revoked"
)

// ConsentEvent is one entry of the consent ledger, the append-only proof
// of every consent given or withdrawn. Nothing updates or deletes entries
// but the erasure of the user's account.
type ConsentEvent struct {
	// ID is time-sortable; the store assigns it when empty.
	ID       string
	UserID   string
	ClientID string // "" for a purpose
	// Purpose names what the consent is for when it is not a client grant
	// (e.g. "marketing"); "" for a client grant.
	Purpose string
	Scopes  []string
	// Resources are the URIs of the resources (APIs) the answer let the
	// client use on the user's behalf, or that a revoked consent let it.
	Resources     []string
	Action        string    // ConsentGranted or ConsentRevoked
	At            time.Time // the store sets it to now when zero
	PolicyVersion string
	IP            string
	UserAgent     string
}

// Key statuses.
const (
	KeyActive  = "active"  // signs new tokens; exactly one per algorithm
	KeyRetired = "retired" // still published until NotAfter so old tokens verify
	KeyNext    = "next"    // published before it signs; at most one per algorithm
)

// SigningKey is a provider signing key. PrivateKey is sealed by the caller
// (AES-256-GCM); storage never sees it in the clear. PublicJWK is the public
// half as a JSON Web Key.
type SigningKey struct {
	ID         string // the JWK kid
	Algorithm  string // RS256, ES256, EdDSA
	PrivateKey []byte
	PublicJWK  []byte
	Status     string
	CreatedAt  time.Time
	NotAfter   time.Time // zero while active; a retired key is dropped after it
}

// Session is an SSO session in a browser.
type Session struct {
	ID        string
	UserID    string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Clients are the IDs of the clients issued a code under the session,
	// in the order they first were: the apps told when it ends
	// (front- and back-channel logout).
	Clients []string
}

// Interaction is a pending authorization request while the user signs in
// and consents. Data is owned by the caller.
type Interaction struct {
	ID        string
	Data      []byte
	ExpiresAt time.Time
}

// TokenKind names the kind of grant state a Token holds.
type TokenKind string

// Token kinds.
const (
	KindAuthorizeCode TokenKind = "authorize_code"
	KindAccessToken   TokenKind = "access_token"
	KindRefreshToken  TokenKind = "refresh_token"
	KindOpenID        TokenKind = "openid" // OpenID request state keyed by authorization code
	KindPKCE          TokenKind = "pkce"   // PKCE request state keyed by authorization code
	KindPAR           TokenKind = "par"    // a pushed authorization request, keyed by its request_uri
	// The device authorization grant (RFC 8628): a device code's request,
	// keyed by the device code's signature; the user code pointing at it,
	// keyed by the user code's; and the user's answer (approval or denial),
	// keyed by the device code's signature.
	KindDeviceCode   TokenKind = "device_code"
	KindUserCode     TokenKind = "user_code"
	KindDeviceAnswer TokenKind = "device_answer"
)

// Token is the server-side state of a code or token, keyed by (Kind,
// Signature). RequestID groups everything issued from one grant, so a whole
// grant can be revoked at once. Data is owned by the caller.
type Token struct {
	Kind            TokenKind
	Signature       string
	RequestID       string
	ClientID        string
	Subject         string
	SessionID       string
	Active          bool
	AccessSignature string // refresh tokens: the access token issued with it
	Data            []byte
	CreatedAt       time.Time
	ExpiresAt       time.Time
	// NoIndex, when writing, asks that the token be found by its signature
	// only: the revocations by grant, subject and client may then miss it.
	// For the access tokens of client_credentials grants, which have no
	// refresh token and no user, and whose client the reader checks.
	NoIndex bool
}

// ClientStore stores relying parties.
type ClientStore interface {
	CreateClient(ctx context.Context, c *Client) error // ErrAlreadyExists
	GetClient(ctx context.Context, id string) (*Client, error)
	UpdateClient(ctx context.Context, c *Client) error // ErrNotFound
	DeleteClient(ctx context.Context, id string) error // ErrNotFound
	// ListClients returns a page and the After value of the next page, ""
	// when this page is the last.
	ListClients(ctx context.Context, p Page) ([]*Client, string, error)
}

// UserStore stores end users.
type UserStore interface {
	CreateUser(ctx context.Context, u *User) error // ErrAlreadyExists for ID or email
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByEmail(ctx context.Context, email string) (*User, error) // case-insensitive
	UpdateUser(ctx context.Context, u *User) error                   // ErrNotFound, ErrAlreadyExists for email
	// DeleteUser removes the user with its credentials, identities,
	// consents and consent ledger. ErrNotFound when absent.
	DeleteUser(ctx context.Context, id string) error
	ListUsers(ctx context.Context, p Page) ([]*User, string, error)
}

// CredentialStore stores the secrets users sign in with.
type CredentialStore interface {
	// PutCredential creates or replaces a credential: for passkeys the one
	// of (c.UserID, c.Type, c.ID), and c.ID is required (an error when
	// empty); for the other types the user's one credential of c.Type,
	// whose ID it sets (see Credential).
	PutCredential(ctx context.Context, c *Credential) error
	// GetCredential returns the user's credential of a single type
	// (password, TOTP, recovery codes). It is not meaningful for passkeys,
	// of which a user may hold several: use ListCredentials.
	GetCredential(ctx context.Context, userID, typ string) (*Credential, error)
	// DeleteCredential removes the user's credentials of typ (every
	// passkey for CredentialPasskey). ErrNotFound when there is none.
	DeleteCredential(ctx context.Context, userID, typ string) error
	// ListCredentials returns every credential of the user, of every
	// type, ordered by CreatedAt then ID; an empty slice when none.
	ListCredentials(ctx context.Context, userID string) ([]*Credential, error)
	// DeleteCredentialByID removes the user's credential with that ID.
	// ErrNotFound when the user has none with it (also when the ID is
	// another user's).
	DeleteCredentialByID(ctx context.Context, userID, id string) error
}

// AuditEvent is a security-relevant event: a sign-in, a failed attempt, a
// change of credentials. It never holds a secret (password, token, code)
// nor an address typed for an account that does not exist.
type AuditEvent struct {
	// ID is time-sortable (the later event has the greater ID); the store
	// assigns it when empty.
	ID        string
	Time      time.Time // the store sets it to now when zero
	Type      string    // e.g. "login.failed"
	UserID    string    // "" when no account is known
	ClientID  string
	IP        string
	UserAgent string
	Detail    map[string]string // small, no secrets
}

// AuditStore keeps audit events durably.
type AuditStore interface {
	// AppendAudit stores e, filling in its ID and Time when empty.
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// ListAudit returns events newest first (by ID) and the After value of
	// the next page, "" when this page is the last; userID "" lists
	// everyone's. Page.After is the ID to continue below.
	ListAudit(ctx context.Context, userID string, p Page) ([]*AuditEvent, string, error)
	// PruneAudit deletes events older than before and reports how many.
	PruneAudit(ctx context.Context, before time.Time) (int, error)
}

// IdentityStore stores links to upstream identity providers.
type IdentityStore interface {
	CreateIdentity(ctx context.Context, i *Identity) error // ErrAlreadyExists for (Provider, Subject)
	GetIdentity(ctx context.Context, provider, subject string) (*Identity, error)
	ListIdentities(ctx context.Context, userID string) ([]*Identity, error)
	UpdateIdentity(ctx context.Context, i *Identity) error
	DeleteIdentity(ctx context.Context, id string) error
}

// ConsentStore stores what users granted clients.
type ConsentStore interface {
	GetConsent(ctx context.Context, userID, clientID string) (*Consent, error)
	PutConsent(ctx context.Context, c *Consent) error // create or replace
	DeleteConsent(ctx context.Context, userID, clientID string) error
	ListConsents(ctx context.Context, userID string) ([]*Consent, error)
	// AppendConsentEvent adds e to the ledger, filling in its ID and At
	// when empty.
	AppendConsentEvent(ctx context.Context, e *ConsentEvent) error
	// ListConsentEvents returns the user's ledger, oldest first; an empty
	// slice when none.
	ListConsentEvents(ctx context.Context, userID string) ([]*ConsentEvent, error)
}

// KeyStore stores signing keys.
type KeyStore interface {
	// ListKeys returns every key not past its NotAfter, newest first.
	ListKeys(ctx context.Context) ([]*SigningKey, error)
	// RotateKey atomically retires every active key of next.Algorithm
	// (Status KeyRetired, NotAfter retireAfter) and stores next as the one
	// active key of its algorithm. Keys of other algorithms are untouched:
	// there is one active key per algorithm.
	RotateKey(ctx context.Context, next *SigningKey, retireAfter time.Time) error
	DeleteKey(ctx context.Context, id string) error
}

// KeyScheduler is a KeyStore that rotates keys with overlap: a key is
// published (KeyNext) some time before it signs, then promoted. Several
// nodes call these at once; the store decides which call wins.
type KeyScheduler interface {
	KeyStore
	// PublishKey stores next as the next key of its algorithm (Status
	// KeyNext, NotAfter zero), leaving the active key signing. It returns
	// ErrAlreadyExists, storing nothing, when the algorithm already has a
	// next key.
	PublishKey(ctx context.Context, next *SigningKey) error
	// PromoteKey atomically makes the next key id the active key of its
	// algorithm from now, setting its CreatedAt to now so that the age of
	// an active key counts from when it started signing, and retires the
	// active one (Status KeyRetired, NotAfter retireAfter). It returns
	// ErrNotFound, changing nothing, when id is not a next key (already
	// promoted, or deleted).
	PromoteKey(ctx context.Context, id string, retireAfter time.Time) error
}

// SessionStore stores SSO sessions and pending interactions.
type SessionStore interface {
	PutSession(ctx context.Context, s *Session) error // create or replace
	GetSession(ctx context.Context, id string) (*Session, error)
	DeleteSession(ctx context.Context, id string) error
	ListUserSessions(ctx context.Context, userID string) ([]*Session, error)
	// DeleteUserSessions ends every session of the user ("sign out
	// everywhere", account deletion) and reports how many it ended.
	DeleteUserSessions(ctx context.Context, userID string) (int, error)
	// AddSessionClient appends clientID to the Clients of the live
	// session id, unless it is listed already (the first add per client
	// appends, once; the order of the adds is kept). Concurrent adds of
	// different clients all land. ErrNotFound when the session has ended
	// (deleted or expired): it is never brought back.
	AddSessionClient(ctx context.Context, id, clientID string) error

	PutInteraction(ctx context.Context, i *Interaction) error // create or replace
	GetInteraction(ctx context.Context, id string) (*Interaction, error)
	DeleteInteraction(ctx context.Context, id string) error
}

// TokenRef names a token.
type TokenRef struct {
	Kind      TokenKind
	Signature string
}

// TokenStore stores grant state: codes, tokens and replay markers.
type TokenStore interface {
	CreateToken(ctx context.Context, t *Token) error // ErrAlreadyExists
	// WriteTokens creates the tokens in create and deletes the tokens in
	// del (those already gone are ignored), in one round trip where the
	// backend can: the writes one request makes when it issues a grant's
	// tokens. A signature in create already taken gives ErrAlreadyExists;
	// what else was written then is unspecified (signatures are random, so
	// it does not happen).
	WriteTokens(ctx context.Context, create []*Token, del []TokenRef) error
	// GetToken returns the token, active or not; ErrNotFound once expired.
	GetToken(ctx context.Context, kind TokenKind, signature string) (*Token, error)
	DeleteToken(ctx context.Context, kind TokenKind, signature string) error // ErrNotFound
	// DeactivateToken marks a token spent and drops its Data (a spent token
	// is kept only to recognise its reuse, which needs its other fields).
	// It reports ErrNotFound when there is no such token and ErrConflict
	// when it was already inactive, so exactly one of several concurrent
	// callers succeeds.
	DeactivateToken(ctx context.Context, kind TokenKind, signature string) error
	// RevokeTokens deletes every token of kind issued under requestID and
	// reports how many it deleted. It and the two below may miss tokens
	// written with NoIndex.
	RevokeTokens(ctx context.Context, kind TokenKind, requestID string) (int, error)
	// RevokeSubjectTokens deletes every token of every kind issued to the
	// subject, a user ID. (client_credentials grants have no subject; the
	// client's are revoked by RevokeClientTokens.)
	RevokeSubjectTokens(ctx context.Context, subject string) (int, error)
	// RevokeClientTokens deletes every token of every kind issued to the
	// client.
	RevokeClientTokens(ctx context.Context, clientID string) (int, error)
	// RevokeUserClientTokens deletes every token of every kind the client
	// holds for the subject (a user withdrawing one app's access) and
	// reports how many it deleted.
	RevokeUserClientTokens(ctx context.Context, subject, clientID string) (int, error)
	// RevokeSessionTokens deletes every token of every kind issued to the
	// subject under the SSO session sid (a user ending a session: the
	// apps signed in through it lose access) and reports how many it
	// deleted. sid is the value stored in Token.SessionID; tokens of
	// another subject with the same sid are kept, and an empty sid
	// matches nothing.
	RevokeSessionTokens(ctx context.Context, subject, sid string) (int, error)
	// UseOnce records key until exp and returns ErrAlreadyExists if it is
	// already recorded and not expired (client assertion jti replay).
	UseOnce(ctx context.Context, key string, exp time.Time) error
}

// CounterStore keeps fixed-window counters for rate limits.
type CounterStore interface {
	// Hit counts one event under key in the current window and returns the
	// count so far, this event included. The window starts at the first
	// hit and lasts window; the next hit after it starts a new one at 1.
	Hit(ctx context.Context, key string, window time.Duration) (int64, error)
	// Fail counts one failure under key and returns the count so far,
	// this failure included. Unlike Hit's fixed window, the count lapses
	// window after the latest failure: each failure extends it, and the
	// next failure after it lapsed starts again at 1. A key is used with
	// Hit or with Fail, not both.
	Fail(ctx context.Context, key string, window time.Duration) (int64, error)
	// Failures returns the count Fail keeps under key and the time of the
	// latest failure (given the same window); 0 and the zero time when
	// there is none or it has lapsed.
	Failures(ctx context.Context, key string, window time.Duration) (int64, time.Time, error)
	// ClearFailures forgets the failures under key; nil when there are
	// none.
	ClearFailures(ctx context.Context, key string) error
}

// StateStore is the short-lived state a node shares with the others: SSO
// sessions, interactions, grant state, replay markers and rate counters.
// It lives in Redis when one is configured and in the SQL store otherwise.
type StateStore interface {
	SessionStore
	TokenStore
	CounterStore
	Ping(ctx context.Context) error
}

// UserDigest is what short-lived state about a user that no index lists
// (replay markers of spent one-time codes) is filed under instead of the
// user ID, so the session store does not name the user, during its life
// or after the account is erased.
func UserDigest(userID string) string {
	sum := sha256.Sum256([]byte("atrium-user\x00" + userID))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// ErrUnavailable wraps errors of a backend that cannot be reached (a
// refused connection, a timeout); callers answer "try again later".
var ErrUnavailable = errors.New("storage: unavailable")

// TopicUserDeleted is the outbox topic of an account erasure; its payload
// is {"user_id": ..., "deleted_at": RFC 3339 time}.
const TopicUserDeleted = "user.deleted"

// Topics are the topics of the outbox messages Atrium writes for
// downstream systems: the topics webhooks get.
var Topics = []string{TopicUserDeleted}

// TopicBackchannelLogout is the outbox topic of a back-channel logout
// still to be delivered to a client (authz/backchannel.go); its payload is
// {"client_id": ..., "sub": user ID, "sid": ...}. Atrium delivers these
// itself: it is not one of Topics, and no webhook gets it.
const TopicBackchannelLogout = "logout.backchannel"

// Audit event types. An event names the account when one is known and
// never holds a password, token, code, or an address typed for an account
// that does not exist.
const (
	AuditLoginSucceeded          = "login.succeeded"
	AuditLoginFailed             = "login.failed"
	AuditLoginThrottled          = "login.throttled"
	AuditMFASucceeded            = "mfa.succeeded"
	AuditMFAFailed               = "mfa.failed"
	AuditMFAThrottled            = "mfa.throttled"
	AuditMFAEnrolled             = "mfa.enrolled"
	AuditMFARemoved              = "mfa.removed"
	AuditRecoveryCodeUsed        = "recovery_code.used"
	AuditPasskeyRegistered       = "passkey.registered"
	AuditPasskeyRemoved          = "passkey.removed"
	AuditPasskeyFailed           = "passkey.failed"
	AuditSignup                  = "signup"
	AuditSignupThrottled         = "signup.throttled"
	AuditEmailVerified           = "email.verified"
	AuditEmailVerificationFailed = "email.verification_failed"
	AuditPasswordResetRequested  = "password.reset_requested"
	AuditPasswordResetThrottled  = "password.reset_throttled"
	AuditPasswordReset           = "password.reset"
	AuditPasswordResetFailed     = "password.reset_failed"
	AuditIdentityLinked          = "identity.linked"
	AuditIdentityUnlinked        = "identity.unlinked"
	AuditCSRFFailed              = "csrf.failed"
	AuditConsentRevoked          = "consent.revoked"
	AuditDataExported            = "data.exported"
	AuditProfileUpdated          = "profile.updated"
	AuditEmailChanged            = "email.changed"
	AuditSignedOut               = "logout"
)

// AuditUserDeleted is the type of the tombstone an erasure leaves in the
// audit log in place of the user's events.
const AuditUserDeleted = "user.deleted"

// OutboxMessage is an event recorded for systems downstream, written in
// the same transaction as the change it reports, or a delivery Atrium
// makes itself (TopicBackchannelLogout, AddOutbox).
type OutboxMessage struct {
	// ID is time-sortable: messages list in the order they were written.
	ID          string
	Topic       string
	Payload     []byte // JSON
	CreatedAt   time.Time
	DeliveredAt time.Time // zero until MarkDelivered
	// Attempts counts the failed deliveries (RetryOutbox); NextAttemptAt
	// is when the next may start, zero for at once.
	Attempts      int
	NextAttemptAt time.Time
	// DeliveredTo are the hooks that took the message (MarkHookDelivered),
	// sorted.
	DeliveredTo []string
}

// OutboxStore hands outbox messages to whatever delivers them.
type OutboxStore interface {
	// ListOutbox returns messages oldest first (by ID), only the
	// undelivered ones when undeliveredOnly, and the After value of the
	// next page, "" when this page is the last.
	ListOutbox(ctx context.Context, undeliveredOnly bool, p Page) ([]*OutboxMessage, string, error)
	// MarkDelivered records that the message reached its consumers; a
	// message already marked keeps its first time. ErrNotFound when there
	// is no such message. It ends any lease of the message.
	MarkDelivered(ctx context.Context, id string) error

	// ClaimOutbox leases to owner, for lease, up to limit undelivered
	// messages, oldest first, of the topics (every topic when topics is
	// nil) whose NextAttemptAt has passed and which no one else holds a
	// lease of that has not run out: of several workers sharing the
	// store, one at a time sends a message.
	ClaimOutbox(ctx context.Context, owner string, topics []string, lease time.Duration, limit int) ([]*OutboxMessage, error)
	// MarkHookDelivered records that the downstream system hook (a name
	// of the caller's) took message id, so a retry skips it; recording it
	// again changes nothing. ErrNotFound when there is no such message.
	MarkHookDelivered(ctx context.Context, id, hook string) error
	// RetryOutbox counts a failed attempt of message id, defers its next
	// one by delay and ends owner's lease. ErrConflict when owner no
	// longer holds the lease (another worker claimed the message after
	// it ran out) or the message is delivered; ErrNotFound when there is
	// no such message.
	RetryOutbox(ctx context.Context, id, owner string, delay time.Duration) error
	// PruneOutbox deletes the messages delivered before before, and
	// reports how many it deleted. Undelivered messages stay.
	PruneOutbox(ctx context.Context, before time.Time) (int, error)
	// AddOutbox writes an undelivered message of topic with payload
	// (JSON), due at once, and returns it. With an owner, the message is
	// leased to owner for lease, as if it had claimed it (ClaimOutbox),
	// so that the writer makes the first attempt and no one else sends
	// it meanwhile; with owner "" it is free to claim.
	AddOutbox(ctx context.Context, topic string, payload []byte, owner string, lease time.Duration) (*OutboxMessage, error)
}

// UserEraser erases accounts (the right to erasure).
type UserEraser interface {
	// EraseUser removes, in one transaction, the user and every record
	// naming them: credentials, linked identities, consents and their
	// ledger, sessions, grant state, audit events. In their place it
	// leaves one audit event of type AuditUserDeleted that names no one
	// (no user ID, address, IP or user agent) and an OutboxMessage of
	// TopicUserDeleted. It reports false, writing nothing, when there is
	// no such user, so a repeated erasure succeeds without a second
	// message. at is the time of the erasure.
	EraseUser(ctx context.Context, id string, at time.Time) (bool, error)
}
