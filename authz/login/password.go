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

	// MinPasswordLength is the shortest password accepted (NIST SP 800-63B).
	MinPasswordLength = 8
	// MaxPasswordLength bounds the work an attacker can make us do.
	MaxPasswordLength = 1024
)

// ErrWeakPassword is returned for a password outside the accepted length.
var ErrWeakPassword = fmt.Errorf("password must be %d to %d characters", MinPasswordLength, MaxPasswordLength)

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

// HashPassword returns a PHC-formatted argon2id hash of password.
func HashPassword(password string) (string, error) {
	if n := len([]rune(password)); n < MinPasswordLength || len(password) > MaxPasswordLength {
		return "", ErrWeakPassword
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	release, err := acquire(context.Background())
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
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	if len(password) > MaxPasswordLength {
		return false, nil
	}
	release, err := acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// SetPassword hashes password and stores it as the user's password credential.
func SetPassword(ctx context.Context, creds storage.CredentialStore, userID, password string, now time.Time) error {
	hash, err := HashPassword(password)
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
