package login

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/atrium-id/atrium/storage"
)

// argon2id parameters (RFC 9106 second recommended option, with 64 MiB).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
	saltLen      = 16
)

var errBadHash = errors.New("login: malformed password hash")

// ErrBusy is returned when every hashing slot stayed taken for
// MaxSlotWait: the server is saturated with sign-ins and the caller
// should answer "try again shortly". It wraps storage.ErrUnavailable.
var ErrBusy = fmt.Errorf("login: too many password checks at once: %w", storage.ErrUnavailable)

// MaxSlotWait is how long a password check waits for a hashing slot.
const MaxSlotWait = 5 * time.Second

// slots bounds the argon2id computations running at once. Each takes 64
// MiB and a core's worth of time, so unbounded concurrency (a burst of
// sign-ins, or an attacker's stream of random emails, which are hashed
// too) would exhaust memory instead of queueing.
var slots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// acquire takes a hashing slot, waiting at most MaxSlotWait or until ctx
// is done.
func acquire(ctx context.Context) (release func(), err error) {
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	default:
	}
	t := time.NewTimer(MaxSlotWait)
	defer t.Stop()
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// HashPassword returns a PHC-formatted argon2id hash of password, made
// with the current parameters, after CheckNewPassword accepts it.
func HashPassword(password string) (string, error) {
	if err := CheckNewPassword(password); err != nil {
		return "", err
	}
	return hash(context.Background(), normalize(password))
}

// hash returns a PHC-formatted argon2id hash of password as given.
func hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	release, err := acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches the PHC-formatted hash,
// comparing in constant time.
func VerifyPassword(hash, password string) (bool, error) {
	return VerifyPasswordContext(context.Background(), hash, password)
}

// VerifyPasswordContext is VerifyPassword for a request: it gives up with
// ErrBusy when no hashing slot frees up in time, or when ctx is done.
func VerifyPasswordContext(ctx context.Context, hash, password string) (bool, error) {
	ok, _, err := verify(ctx, hash, password)
	return ok, err
}

// phc is a parsed argon2id hash.
type phc struct {
	m, t       uint32
	p          uint8
	salt, want []byte
}

func parseHash(hash string) (*phc, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return nil, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return nil, errBadHash
	}
	var h phc
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.m, &h.t, &h.p); err != nil || h.t == 0 || h.p == 0 {
		return nil, errBadHash
	}
	b64 := base64.RawStdEncoding
	var err error
	if h.salt, err = b64.DecodeString(parts[4]); err != nil {
		return nil, errBadHash
	}
	if h.want, err = b64.DecodeString(parts[5]); err != nil || len(h.want) == 0 {
		return nil, errBadHash
	}
	return &h, nil
}

// current reports whether h was made with the current parameters.
func (h *phc) current() bool {
	return h.m == argonMemory && h.t == argonTime && h.p == argonThreads &&
		len(h.salt) == saltLen && len(h.want) == argonKeyLen
}

// verify checks password against hash. The password is tried in NFKC form
// and, when that differs, as typed: hashes made before passwords were
// normalized hold the typed form. Both forms are tried whatever the first
// gives, so the time taken depends on the password only. stale reports a
// match against a hash that should be replaced by one made now: older
// parameters, or a match in the typed form only.
func verify(ctx context.Context, hash, password string) (ok, stale bool, err error) {
	h, err := parseHash(hash)
	if err != nil {
		return false, false, err
	}
	if len(password) > maxInputBytes {
		return false, false, nil
	}
	release, err := acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	n := normalize(password)
	ok = h.matches(n)
	if n != password {
		typed := h.matches(password)
		stale = typed && !ok
		ok = ok || typed
	}
	return ok, ok && (stale || !h.current()), nil
}

func (h *phc) matches(password string) bool {
	got := argon2.IDKey([]byte(password), h.salt, h.t, h.m, h.p, uint32(len(h.want)))
	return subtle.ConstantTimeCompare(got, h.want) == 1
}

// SetPassword checks password with CheckNewPassword (related are values
// of the account it must not equal, such as the email address), hashes it
// and stores it as the user's password credential.
func SetPassword(ctx context.Context, creds PasswordStore, userID, password string, now time.Time, related ...string) error {
	if err := CheckNewPassword(password, related...); err != nil {
		return err
	}
	hash, err := hash(ctx, normalize(password))
	if err != nil {
		return err
	}
	return creds.PutCredential(ctx, &storage.Credential{
		ID:        userID + ":" + storage.CredentialPassword,
		UserID:    userID,
		Type:      storage.CredentialPassword,
		Secret:    []byte(hash),
		CreatedAt: now,
		UpdatedAt: now,
	})
}

// VerifyPasswordUpgrade is VerifyPasswordContext that also reports whether
// a matching hash should be replaced by one made with the current
// parameters (see Rehash): it was made with older argon2id parameters, or
// from the password before Unicode normalization. A hash that does not
// match is never to be replaced.
func VerifyPasswordUpgrade(ctx context.Context, hash, password string) (ok, upgrade bool, err error) {
	return verify(ctx, hash, password)
}

// PasswordStore reads and writes password credentials (a
// storage.CredentialStore).
type PasswordStore interface {
	GetCredential(ctx context.Context, userID, typ string) (*storage.Credential, error)
	PutCredential(ctx context.Context, c *storage.Credential) error
}

// Rehash replaces the stored password credential cred, which password has
// just matched, by a hash made with the current parameters. The password
// rules are not applied: the person proved this password, and the rules
// are for choosing new ones. When the stored credential changed since cred
// was read (the password was changed meanwhile), it is left alone.
func Rehash(ctx context.Context, creds PasswordStore, cred *storage.Credential, password string, now time.Time) error {
	if len(password) > maxInputBytes {
		return errors.New("login: password too long to rehash")
	}
	h, err := hash(ctx, normalize(password))
	if err != nil {
		return err
	}
	cur, err := creds.GetCredential(ctx, cred.UserID, storage.CredentialPassword)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(cur.Secret, cred.Secret) != 1 {
		return nil
	}
	up := *cur
	up.Secret, up.UpdatedAt = []byte(h), now
	return creds.PutCredential(ctx, &up)
}
