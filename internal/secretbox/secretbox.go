package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinMasterLen is the shortest master secret accepted, in bytes.
const MinMasterLen = 32

// version1 marks an envelope sealed with AES-256-GCM and a 12-byte random
// nonce: version || nonce || ciphertext || tag.
const version1 byte = 1

const (
	nonceSize = 12
	tagSize   = 16
)

// Errors returned by Open; compare with errors.Is.
var (
	// ErrOpen: the envelope does not authenticate under this key and aad
	// (wrong master secret, wrong purpose, wrong aad or tampered data).
	ErrOpen = errors.New("secretbox: message authentication failed (wrong master secret or tampered data)")
	// ErrVersion: the envelope was sealed in a format this build does not know.
	ErrVersion = errors.New("secretbox: unknown envelope version")
	// ErrShort: the envelope is too short to hold a nonce and a tag.
	ErrShort = errors.New("secretbox: sealed message too short")
)

// Box seals and opens secrets for one purpose. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box whose AES-256 key is HKDF-SHA256(master, no salt,
// info "atrium/"+purpose). Distinct purposes yield independent keys.
func New(master []byte, purpose string) (*Box, error) {
	if len(master) < MinMasterLen {
		return nil, fmt.Errorf("secretbox: master secret is %d bytes, need at least %d", len(master), MinMasterLen)
	}
	key, err := derive(master, purpose, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts and authenticates plaintext, binding it to aad (which is
// not stored; Open must be given the same aad).
func (b *Box) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+tagSize)
	out[0] = version1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("secretbox: nonce: %w", err)
	}
	return b.aead.Seal(out, out[1:1+nonceSize], plaintext, aad), nil
}

// Open authenticates and decrypts an envelope made by Seal. It returns
// ErrOpen when the key, the aad or any byte differs, ErrVersion for an
// unknown format and ErrShort for a truncated envelope.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, ErrShort
	}
	if sealed[0] != version1 {
		return nil, fmt.Errorf("%w %d", ErrVersion, sealed[0])
	}
	if len(sealed) < 1+nonceSize+tagSize {
		return nil, ErrShort
	}
	pt, err := b.aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// Derive returns n bytes of HKDF-SHA256(master, no salt, info
// "atrium/"+purpose), for secrets that are not encryption keys of a Box
// (the HMAC key of opaque tokens, cookie keys). Callers validate the
// master secret's length first (New does); Derive panics only if n is
// beyond what HKDF-SHA256 can produce (255*32 bytes).
func Derive(master []byte, purpose string, n int) []byte {
	k, err := derive(master, purpose, n)
	if err != nil {
		panic(err)
	}
	return k
}

func derive(master []byte, purpose string, n int) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, master, nil, "atrium/"+purpose, n)
	if err != nil {
		return nil, fmt.Errorf("secretbox: derive %q: %w", purpose, err)
	}
	return k, nil
}
