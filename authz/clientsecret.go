package authz

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
)

// GenerateSecret returns a random URL-safe secret of 256 bits.
func GenerateSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("atrium: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashClientSecret returns the digest stored for a client secret. Client
// secrets are high-entropy and generated, so a fast digest suffices.
func HashClientSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

var errSecretMismatch = errors.New("client secret does not match")

// secretHasher implements fosite.Hasher over SHA-256 digests.
type secretHasher struct{}

func (secretHasher) Compare(_ context.Context, hash, data []byte) error {
	sum := sha256.Sum256(data)
	if len(hash) != sha256.Size || subtle.ConstantTimeCompare(hash, sum[:]) != 1 {
		return errSecretMismatch
	}
	return nil
}

func (secretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	return sum[:], nil
}
