package login

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/atrium-id/atrium/storage"
)

// Passkeys are WebAuthn credentials (W3C Web Authentication, Level 3)
// kept by the user's authenticator. This file wraps the ceremonies of
// github.com/go-webauthn/webauthn:
//
//   - registration: discoverable credential required (so the passkey can
//     sign in with no user name), user verification preferred, no
//     attestation asked for, the user's own passkeys excluded;
//   - discoverable sign-in: no user named, the authenticator offers its
//     passkeys for the relying party and returns the user handle;
//   - sign-in of a known user (second factor): only that user's passkeys
//     are allowed.
//
// Each Begin returns the options for the browser (JSON, for
// navigator.credentials.create or get) and a Ceremony, the server's half,
// which the caller keeps where the browser cannot change it and hands to
// Finish once. The user handle of a passkey is the user's ID.
//
// Finish refuses, each with its own error: a ceremony past its lifetime
// or a response to another challenge (ErrPasskeyExpired), a response
// collected by a page of another origin (ErrPasskeyOrigin), a credential
// that is not registered, or not the user's (ErrPasskeyUnknown), a
// signature counter that did not go up (ErrPasskeyCloned: a copy of the
// key may be in use), and any other verification failure, a bad signature
// among them (ErrPasskeyInvalid).

// Passkey errors, for the caller to tell the person what went wrong.
var (
	ErrPasskeyExpired = errors.New("passkey request expired or already used")
	ErrPasskeyOrigin  = errors.New("passkey response collected by another origin")
	ErrPasskeyUnknown = errors.New("passkey not registered for this account")
	ErrPasskeyCloned  = errors.New("passkey signature counter did not increase")
	ErrPasskeyInvalid = errors.New("passkey response not valid")
)

// PasskeyConfig configures the WebAuthn relying party.
type PasskeyConfig struct {
	// RPID is the relying party ID: the issuer's host name or a
	// registrable suffix of it. Passkeys are bound to it.
	RPID string
	// RPName is the name authenticators show; default "Atrium".
	RPName string
	// Origins are the origins (scheme://host[:port]) of the pages that run
	// ceremonies; a response collected elsewhere is refused.
	Origins []string
	// Timeout is how long a ceremony may take; default 5 minutes.
	Timeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// PasskeyRelyingParty runs the WebAuthn ceremonies.
type PasskeyRelyingParty struct {
	wa  *webauthn.WebAuthn
	cfg PasskeyConfig
}

// NewPasskeyRelyingParty checks cfg and returns a relying party.
func NewPasskeyRelyingParty(cfg PasskeyConfig) (*PasskeyRelyingParty, error) {
	if cfg.RPName == "" {
		cfg.RPName = "Atrium"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var errs []error
	if cfg.RPID == "" {
		errs = append(errs, errors.New("webauthn: rp_id is required"))
	}
	if len(cfg.Origins) == 0 {
		errs = append(errs, errors.New("webauthn: at least one origin is required"))
	}
	for _, o := range cfg.Origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("webauthn: origin %q is not scheme://host[:port]", o))
			continue
		}
		if h := u.Hostname(); h != cfg.RPID && !strings.HasSuffix(h, "."+cfg.RPID) {
			errs = append(errs, fmt.Errorf("webauthn: origin %q is not on rp_id %q or a subdomain of it", o, cfg.RPID))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	origins := make([]string, len(cfg.Origins))
	for i, o := range cfg.Origins {
		origins[i] = strings.TrimSuffix(o, "/")
	}
	cfg.Origins = origins
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPName,
		RPOrigins:             cfg.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			RequireResidentKey: protocol.ResidentKeyRequired(),
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: cfg.Timeout, TimeoutUVD: cfg.Timeout},
			Registration: webauthn.TimeoutConfig{Timeout: cfg.Timeout, TimeoutUVD: cfg.Timeout},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	return &PasskeyRelyingParty{wa: wa, cfg: cfg}, nil
}

// RPID is the relying party ID passkeys are bound to.
func (rp *PasskeyRelyingParty) RPID() string { return rp.cfg.RPID }

// Passkey is a registered passkey: what verification needs, the name the
// user gave it, and when it was registered and last used. It is stored as
// a storage.Credential of type storage.CredentialPasskey whose ID is the
// base64url credential ID and whose Secret is this, as JSON.
type Passkey struct {
	ID                string       `json:"-"`
	Name              string       `json:"name"`
	PublicKey         []byte       `json:"public_key"` // COSE_Key
	SignCount         uint32       `json:"sign_count"`
	AAGUID            []byte       `json:"aaguid,omitempty"`
	Flags             PasskeyFlags `json:"flags"`
	Transports        []string     `json:"transports,omitempty"`
	AttestationType   string       `json:"attestation_type,omitempty"`
	AttestationFormat string       `json:"attestation_format,omitempty"`
	CreatedAt         time.Time    `json:"created_at"`
	LastUsedAt        time.Time    `json:"last_used_at,omitzero"`
}

// PasskeyFlags are the authenticator data flags kept with a passkey.
type PasskeyFlags struct {
	UserPresent    bool `json:"up,omitempty"`
	UserVerified   bool `json:"uv,omitempty"`
	BackupEligible bool `json:"be,omitempty"`
	BackupState    bool `json:"bs,omitempty"`
}

// MaxPasskeyNameLength bounds the name a user gives a passkey, in runes.
const MaxPasskeyNameLength = 64

// CleanPasskeyName trims name and checks it is 1 to MaxPasskeyNameLength
// printable characters.
func CleanPasskeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	n := 0
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return "", errors.New("the name has a control character")
		}
		n++
	}
	switch {
	case n == 0:
		return "", errors.New("the name is empty")
	case n > MaxPasskeyNameLength:
		return "", fmt.Errorf("the name is longer than %d characters", MaxPasskeyNameLength)
	}
	return name, nil
}

// PasskeyFromCredential decodes a stored passkey.
func PasskeyFromCredential(c *storage.Credential) (*Passkey, error) {
	if c.Type != storage.CredentialPasskey {
		return nil, fmt.Errorf("credential %s is a %s, not a passkey", c.ID, c.Type)
	}
	pk := &Passkey{}
	if err := json.Unmarshal(c.Secret, pk); err != nil {
		return nil, fmt.Errorf("passkey %s: %w", c.ID, err)
	}
	pk.ID = c.ID
	return pk, nil
}

// Credential is pk as a credential of userID to store.
func (pk *Passkey) Credential(userID string, now time.Time) (*storage.Credential, error) {
	secret, err := json.Marshal(pk)
	if err != nil {
		return nil, err
	}
	return &storage.Credential{ID: pk.ID, UserID: userID, Type: storage.CredentialPasskey, Secret: secret,
		CreatedAt: pk.CreatedAt, UpdatedAt: now}, nil
}

// ListPasskeys returns the user's passkeys, oldest first.
func ListPasskeys(ctx context.Context, creds storage.CredentialStore, userID string) ([]*Passkey, error) {
	all, err := creds.ListCredentials(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []*Passkey
	for _, c := range all {
		if c.Type != storage.CredentialPasskey {
			continue
		}
		pk, err := PasskeyFromCredential(c)
		if err != nil {
			return nil, err
		}
		out = append(out, pk)
	}
	return out, nil
}

func (pk *Passkey) rawID() []byte {
	b, _ := base64.RawURLEncoding.DecodeString(pk.ID)
	return b
}

func (pk *Passkey) webauthn() webauthn.Credential {
	var transports []protocol.AuthenticatorTransport
	for _, t := range pk.Transports {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{
		ID:                pk.rawID(),
		PublicKey:         pk.PublicKey,
		AttestationType:   pk.AttestationType,
		AttestationFormat: pk.AttestationFormat,
		Transport:         transports,
		Flags: webauthn.CredentialFlags{
			UserPresent: pk.Flags.UserPresent, UserVerified: pk.Flags.UserVerified,
			BackupEligible: pk.Flags.BackupEligible, BackupState: pk.Flags.BackupState,
		},
		Authenticator: webauthn.Authenticator{AAGUID: pk.AAGUID, SignCount: pk.SignCount},
	}
}

// PasskeyUser is a user as the ceremonies see them.
type PasskeyUser struct {
	ID          string // the user handle
	Name        string // e.g. the email address, shown by authenticators
	DisplayName string
	Passkeys    []*Passkey
}

// waUser adapts PasskeyUser to webauthn.User.
type waUser struct{ u *PasskeyUser }

func (w waUser) WebAuthnID() []byte          { return []byte(w.u.ID) }
func (w waUser) WebAuthnName() string        { return w.u.Name }
func (w waUser) WebAuthnDisplayName() string { return w.u.DisplayName }
func (w waUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(w.u.Passkeys))
	for _, pk := range w.u.Passkeys {
		out = append(out, pk.webauthn())
	}
	return out
}

// Ceremony kinds.
const (
	CeremonyRegister     = "register"
	CeremonySignIn       = "signin" // discoverable: no user named
	CeremonySecondFactor = "mfa"    // a known user's passkeys only
)

// Ceremony is the server's half of a ceremony between Begin and Finish.
type Ceremony struct {
	// ID names the ceremony, e.g. for a single-use marker the caller keeps.
	ID      string               `json:"id"`
	Kind    string               `json:"kind"`
	UserID  string               `json:"user_id,omitempty"` // "" for a discoverable sign-in
	Expires time.Time            `json:"expires"`
	Session webauthn.SessionData `json:"session"`
}

func (rp *PasskeyRelyingParty) newCeremony(kind, userID string, s *webauthn.SessionData) *Ceremony {
	id := make([]byte, 24)
	if _, err := rand.Read(id); err != nil {
		panic("atrium: no randomness: " + err.Error())
	}
	return &Ceremony{ID: base64.RawURLEncoding.EncodeToString(id), Kind: kind, UserID: userID,
		Expires: rp.cfg.Now().Add(rp.cfg.Timeout), Session: *s}
}

func checkUserHandle(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("user ID of %d bytes cannot be a WebAuthn user handle (1 to 64)", len(id))
	}
	return nil
}

// BeginRegistration starts registering a new passkey for u. u.Passkeys
// are excluded: the authenticator refuses to make a second passkey for
// the same account.
func (rp *PasskeyRelyingParty) BeginRegistration(u *PasskeyUser) (options []byte, c *Ceremony, err error) {
	if err := checkUserHandle(u.ID); err != nil {
		return nil, nil, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, pk := range u.Passkeys {
		cred := pk.webauthn()
		exclude = append(exclude, cred.Descriptor())
	}
	creation, s, err := rp.wa.BeginRegistration(waUser{u}, webauthn.WithExclusions(exclude),
		webauthn.WithCredentialParameters(webauthn.CredentialParametersRecommendedL3()))
	if err != nil {
		return nil, nil, err
	}
	if options, err = json.Marshal(creation); err != nil {
		return nil, nil, err
	}
	return options, rp.newCeremony(CeremonyRegister, u.ID, s), nil
}

// FinishRegistration verifies the browser's response to a registration
// ceremony of u and returns the new passkey, named name.
func (rp *PasskeyRelyingParty) FinishRegistration(u *PasskeyUser, c *Ceremony, response []byte, name string) (*Passkey, error) {
	if err := rp.usable(c, CeremonyRegister, u.ID); err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrPasskeyInvalid, describe(err))
	}
	if err := rp.checkClientData(c, parsed.Response.CollectedClientData); err != nil {
		return nil, err
	}
	cred, err := rp.wa.CreateCredential(waUser{u}, c.Session, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrPasskeyInvalid, describe(err))
	}
	id := base64.RawURLEncoding.EncodeToString(cred.ID)
	for _, pk := range u.Passkeys {
		if pk.ID == id {
			return nil, fmt.Errorf("%w: credential already registered", ErrPasskeyInvalid)
		}
	}
	now := rp.cfg.Now().UTC()
	pk := &Passkey{
		ID: id, Name: name, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
		AAGUID: cred.Authenticator.AAGUID, AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
		Flags: PasskeyFlags{
			UserPresent: cred.Flags.UserPresent, UserVerified: cred.Flags.UserVerified,
			BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		},
		CreatedAt: now,
	}
	for _, t := range cred.Transport {
		pk.Transports = append(pk.Transports, string(t))
	}
	return pk, nil
}

// BeginSignIn starts a discoverable sign-in: no user is named, the
// authenticator offers its passkeys for the relying party.
func (rp *PasskeyRelyingParty) BeginSignIn() (options []byte, c *Ceremony, err error) {
	assertion, s, err := rp.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, nil, err
	}
	if options, err = json.Marshal(assertion); err != nil {
		return nil, nil, err
	}
	return options, rp.newCeremony(CeremonySignIn, "", s), nil
}

// BeginSecondFactor starts a sign-in with one of u's passkeys. With
// verifyUser the authenticator must verify the person (PIN, biometrics):
// after a first factor that was a passkey already, presence alone would
// prove the same thing twice.
func (rp *PasskeyRelyingParty) BeginSecondFactor(u *PasskeyUser, verifyUser bool) (options []byte, c *Ceremony, err error) {
	if err := checkUserHandle(u.ID); err != nil {
		return nil, nil, err
	}
	if len(u.Passkeys) == 0 {
		return nil, nil, errors.New("the user has no passkey")
	}
	uv := protocol.VerificationPreferred
	if verifyUser {
		uv = protocol.VerificationRequired
	}
	assertion, s, err := rp.wa.BeginLogin(waUser{u}, webauthn.WithUserVerification(uv))
	if err != nil {
		return nil, nil, err
	}
	if options, err = json.Marshal(assertion); err != nil {
		return nil, nil, err
	}
	return options, rp.newCeremony(CeremonySecondFactor, u.ID, s), nil
}

// Assertion is a verified sign-in with a passkey.
type Assertion struct {
	UserID string
	// Passkey is the passkey used, its sign count and last use updated:
	// the caller stores it.
	Passkey *Passkey
	// UserVerified: the authenticator verified the person (PIN,
	// biometrics), not only their presence.
	UserVerified bool
}

// FinishSignIn verifies the browser's response to a discoverable
// sign-in. user returns the user of a user handle with their passkeys, or
// storage.ErrNotFound.
func (rp *PasskeyRelyingParty) FinishSignIn(c *Ceremony, response []byte, user func(userHandle string) (*PasskeyUser, error)) (*Assertion, error) {
	if err := rp.usable(c, CeremonySignIn, ""); err != nil {
		return nil, err
	}
	parsed, err := rp.parseAssertion(c, response)
	if err != nil {
		return nil, err
	}
	if len(parsed.Response.UserHandle) == 0 {
		return nil, fmt.Errorf("%w: no user handle", ErrPasskeyInvalid)
	}
	u, err := user(string(parsed.Response.UserHandle))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: no such user", ErrPasskeyUnknown)
	} else if err != nil {
		return nil, err
	}
	return rp.verifyAssertion(c, u, parsed, func() (*webauthn.Credential, error) {
		_, cred, err := rp.wa.ValidatePasskeyLogin(func([]byte, []byte) (webauthn.User, error) { return waUser{u}, nil }, c.Session, parsed)
		return cred, err
	})
}

// FinishSecondFactor verifies the browser's response to a sign-in with
// one of u's passkeys.
func (rp *PasskeyRelyingParty) FinishSecondFactor(c *Ceremony, u *PasskeyUser, response []byte) (*Assertion, error) {
	if err := rp.usable(c, CeremonySecondFactor, u.ID); err != nil {
		return nil, err
	}
	parsed, err := rp.parseAssertion(c, response)
	if err != nil {
		return nil, err
	}
	return rp.verifyAssertion(c, u, parsed, func() (*webauthn.Credential, error) {
		return rp.wa.ValidateLogin(waUser{u}, c.Session, parsed)
	})
}

func (rp *PasskeyRelyingParty) parseAssertion(c *Ceremony, response []byte) (*protocol.ParsedCredentialAssertionData, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrPasskeyInvalid, describe(err))
	}
	if err := rp.checkClientData(c, parsed.Response.CollectedClientData); err != nil {
		return nil, err
	}
	return parsed, nil
}

func (rp *PasskeyRelyingParty) verifyAssertion(c *Ceremony, u *PasskeyUser, parsed *protocol.ParsedCredentialAssertionData, validate func() (*webauthn.Credential, error)) (*Assertion, error) {
	i := slices.IndexFunc(u.Passkeys, func(pk *Passkey) bool { return bytes.Equal(pk.rawID(), parsed.RawID) })
	if i < 0 {
		return nil, fmt.Errorf("%w: credential not among the user's", ErrPasskeyUnknown)
	}
	cred, err := validate()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrPasskeyInvalid, describe(err))
	}
	if cred.Authenticator.CloneWarning {
		return nil, fmt.Errorf("%w: counter %d, stored %d", ErrPasskeyCloned, parsed.Response.AuthenticatorData.Counter, u.Passkeys[i].SignCount)
	}
	pk := *u.Passkeys[i]
	pk.SignCount = cred.Authenticator.SignCount
	pk.Flags = PasskeyFlags{
		UserPresent: cred.Flags.UserPresent, UserVerified: cred.Flags.UserVerified,
		BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
	}
	pk.LastUsedAt = rp.cfg.Now().UTC()
	return &Assertion{UserID: u.ID, Passkey: &pk, UserVerified: parsed.Response.AuthenticatorData.Flags.HasUserVerified()}, nil
}

// usable checks c is of kind, for userID, and not past its lifetime.
func (rp *PasskeyRelyingParty) usable(c *Ceremony, kind, userID string) error {
	switch {
	case c == nil:
		return fmt.Errorf("%w: no ceremony", ErrPasskeyExpired)
	case c.Kind != kind:
		return fmt.Errorf("%w: a %s ceremony, not %s", ErrPasskeyExpired, c.Kind, kind)
	case c.UserID != userID:
		return fmt.Errorf("%w: ceremony of another user", ErrPasskeyExpired)
	case !rp.cfg.Now().Before(c.Expires):
		return fmt.Errorf("%w: ceremony expired", ErrPasskeyExpired)
	}
	return nil
}

// checkClientData refuses a response to another challenge or collected by
// a page of another origin before the library's checks, so each gets its
// own error.
func (rp *PasskeyRelyingParty) checkClientData(c *Ceremony, cd protocol.CollectedClientData) error {
	if subtle.ConstantTimeCompare([]byte(cd.Challenge), []byte(c.Session.Challenge)) != 1 {
		return fmt.Errorf("%w: response to another challenge", ErrPasskeyExpired)
	}
	if !slices.Contains(rp.cfg.Origins, cd.Origin) {
		return fmt.Errorf("%w: origin %q", ErrPasskeyOrigin, truncate(cd.Origin, 100))
	}
	return nil
}

// describe is the library's error with its details, for the log.
func describe(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return truncate(pe.Details+": "+pe.DevInfo, 300)
	}
	return truncate(err.Error(), 300)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
