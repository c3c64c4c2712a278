package login

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/atrium-id/atrium/storage"
)

// Box seals and opens secrets at rest, binding each to aad (a
// *secretbox.Box).
type Box interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Factors issues and checks second factors: TOTP authenticator apps
// (RFC 6238: SHA-1, 6 digits, 30-second steps, as every app supports) and
// recovery codes. TOTP secrets are stored sealed by Box; recovery codes
// are stored as HMACs under RecoveryKey, so neither is usable from a copy
// of the database alone.
type Factors struct {
	Box Box
	// RecoveryKey (at least 32 bytes) keys the HMAC of recovery codes.
	RecoveryKey []byte
	// Issuer is the name authenticator apps show beside the account.
	Issuer string
}

// Second-factor errors.
var (
	// ErrWrongCode: the code matches no current TOTP step or unused
	// recovery code.
	ErrWrongCode = errors.New("login: wrong code")
	// ErrReplayedCode: the TOTP code was right but has been used already.
	ErrReplayedCode = errors.New("login: code already used")
)

const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	// totpSkew is how many steps either side of now are accepted, for
	// clocks that drift and people who type slowly.
	totpSkew = 1

	// RecoveryCodeCount is how many recovery codes a set holds.
	RecoveryCodeCount = 10
)

// TOTPEnrolment is a TOTP secret offered to a user and not yet confirmed.
type TOTPEnrolment struct {
	Secret string       // base32, for typing into an app
	URL    string       // otpauth:// URI, the QR code's content
	QR     template.URL // the QR code as a data: URL (PNG), made here
}

// NewTOTP makes a new TOTP secret for the account named account (its
// email) and the image of its QR code.
func (f *Factors) NewTOTP(account string) (*TOTPEnrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: f.Issuer, AccountName: account, Period: totpPeriod, Digits: totpDigits,
		Algorithm: otp.AlgorithmSHA1, SecretSize: 20,
	})
	if err != nil {
		return nil, fmt.Errorf("login: totp secret: %w", err)
	}
	return enrolment(key)
}

func enrolment(key *otp.Key) (*TOTPEnrolment, error) {
	img, err := key.Image(200, 200)
	if err != nil {
		return nil, fmt.Errorf("login: totp qr: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("login: totp qr: %w", err)
	}
	return &TOTPEnrolment{
		Secret: key.Secret(), URL: key.URL(),
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())),
	}, nil
}

// pendingAAD binds a sealed pending secret to the user and the browser
// context (an SSO session or an interaction) it was offered in.
func pendingAAD(userID, context string) []byte {
	return []byte("totp-pending\x00" + userID + "\x00" + context)
}

// SealPending seals an offered TOTP secret for a hidden form field, so the
// confirmation needs no server state: only this user, in the same context,
// can bring it back.
func (f *Factors) SealPending(userID, context, secret string) (string, error) {
	sealed, err := f.Box.Seal([]byte(secret), pendingAAD(userID, context))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// OpenPending opens what SealPending made and rebuilds the enrolment (to
// show the page again after a wrong code).
func (f *Factors) OpenPending(userID, context, sealed, account string) (*TOTPEnrolment, error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return nil, fmt.Errorf("login: pending totp secret: %w", err)
	}
	secret, err := f.Box.Open(raw, pendingAAD(userID, context))
	if err != nil {
		return nil, fmt.Errorf("login: pending totp secret: %w", err)
	}
	return f.totpKey(account, string(secret))
}

func (f *Factors) totpKey(account, secret string) (*TOTPEnrolment, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return nil, fmt.Errorf("login: totp secret: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: f.Issuer, AccountName: account, Period: totpPeriod, Digits: totpDigits,
		Algorithm: otp.AlgorithmSHA1, Secret: raw,
	})
	if err != nil {
		return nil, fmt.Errorf("login: totp secret: %w", err)
	}
	return enrolment(key)
}

// totpSecret is the sealed content of a TOTP credential.
type totpSecret struct {
	Secret string `json:"secret"`
}

func totpAAD(userID string) []byte { return []byte("totp\x00" + userID) }

// ConfirmTOTP checks code against the offered secret and, when it
// matches, returns the credential to store. The code is spent (markUsed),
// so it cannot be used again to sign in.
func (f *Factors) ConfirmTOTP(ctx context.Context, userID, secret, code string, now time.Time, markUsed UseOnce) (*storage.Credential, error) {
	if err := checkTOTP(ctx, userID, secret, code, now, markUsed); err != nil {
		return nil, err
	}
	data, err := json.Marshal(totpSecret{Secret: secret})
	if err != nil {
		return nil, err
	}
	sealed, err := f.Box.Seal(data, totpAAD(userID))
	if err != nil {
		return nil, err
	}
	return &storage.Credential{UserID: userID, Type: storage.CredentialTOTP, Secret: sealed, CreatedAt: now, UpdatedAt: now}, nil
}

// UseOnce records key until exp, failing with storage.ErrAlreadyExists
// when it is recorded already (storage.TokenStore.UseOnce).
type UseOnce func(ctx context.Context, key string, exp time.Time) error

// VerifyTOTP checks code against the user's TOTP credential: a code of
// the current step or one either side, not used before.
func (f *Factors) VerifyTOTP(ctx context.Context, cred *storage.Credential, code string, now time.Time, markUsed UseOnce) error {
	data, err := f.Box.Open(cred.Secret, totpAAD(cred.UserID))
	if err != nil {
		return fmt.Errorf("login: totp credential of %s: %w", cred.UserID, err)
	}
	var s totpSecret
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("login: totp credential of %s: %w", cred.UserID, err)
	}
	return checkTOTP(ctx, cred.UserID, s.Secret, code, now, markUsed)
}

func checkTOTP(ctx context.Context, userID, secret, code string, now time.Time, markUsed UseOnce) error {
	code = strings.Join(strings.Fields(code), "")
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return ErrWrongCode
	}
	step := now.Unix() / totpPeriod
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		at := time.Unix((step+d)*totpPeriod, 0)
		want, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{
			Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return fmt.Errorf("login: totp: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		// A step's code works once, however many requests carry it.
		key := "totp:" + storage.UserDigest(userID) + ":" + strconv.FormatInt(step+d, 10)
		err = markUsed(ctx, key, time.Unix((step+totpSkew+2)*totpPeriod, 0))
		if errors.Is(err, storage.ErrAlreadyExists) {
			return ErrReplayedCode
		}
		return err
	}
	return ErrWrongCode
}

// IsSecondFactor reports whether c serves as a second factor: an
// authenticator app or a passkey (recovery codes only stand in for one).
func IsSecondFactor(c *storage.Credential) bool {
	return c.Type == storage.CredentialTOTP || c.Type == storage.CredentialPasskey
}

// recoveryAlphabet leaves out 0/O and 1/I/L, which people misread.
const recoveryAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// recoveryCodes is the content of a recovery codes credential: the HMACs
// of the unused codes.
type recoveryCodes struct {
	Unused []string `json:"unused"`
}

// NewRecoveryCodes makes a set of recovery codes (to show the user once)
// and the credential that replaces any earlier set.
func (f *Factors) NewRecoveryCodes(userID string, now time.Time) ([]string, *storage.Credential, error) {
	codes := make([]string, RecoveryCodeCount)
	var set recoveryCodes
	for i := range codes {
		b := make([]byte, 10)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, err
		}
		for j := range b {
			b[j] = recoveryAlphabet[int(b[j])%len(recoveryAlphabet)]
		}
		codes[i] = string(b[:5]) + "-" + string(b[5:])
		set.Unused = append(set.Unused, f.recoveryMAC(userID, codes[i]))
	}
	data, err := json.Marshal(set)
	if err != nil {
		return nil, nil, err
	}
	return codes, &storage.Credential{UserID: userID, Type: storage.CredentialRecoveryCodes, Secret: data, CreatedAt: now, UpdatedAt: now}, nil
}

// normalizeRecovery lower-cases a typed code and drops spaces and dashes.
func normalizeRecovery(code string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		if r != '-' && r != ' ' && r != '\t' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (f *Factors) recoveryMAC(userID, code string) string {
	m := hmac.New(sha256.New, f.RecoveryKey)
	m.Write([]byte("recovery\x00" + userID + "\x00" + normalizeRecovery(code)))
	return hex.EncodeToString(m.Sum(nil))
}

// LooksLikeRecoveryCode tells a recovery code from a TOTP code.
func LooksLikeRecoveryCode(code string) bool { return len(normalizeRecovery(code)) == 10 }

// RemainingRecoveryCodes is how many codes of the set are unused.
func RemainingRecoveryCodes(cred *storage.Credential) int {
	var set recoveryCodes
	if json.Unmarshal(cred.Secret, &set) != nil {
		return 0
	}
	return len(set.Unused)
}

// UseRecoveryCode spends code from the user's set: it returns the
// credential to store (without the code) or ErrWrongCode. markUsed
// decides between concurrent uses of the same code.
func (f *Factors) UseRecoveryCode(ctx context.Context, cred *storage.Credential, code string, now time.Time, markUsed UseOnce) (*storage.Credential, error) {
	var set recoveryCodes
	if err := json.Unmarshal(cred.Secret, &set); err != nil {
		return nil, fmt.Errorf("login: recovery codes of %s: %w", cred.UserID, err)
	}
	mac := f.recoveryMAC(cred.UserID, code)
	i := slices.IndexFunc(set.Unused, func(s string) bool { return hmac.Equal([]byte(s), []byte(mac)) })
	if i < 0 {
		return nil, ErrWrongCode
	}
	err := markUsed(ctx, "recovery:"+storage.UserDigest(cred.UserID)+":"+mac, now.Add(400*24*time.Hour))
	if errors.Is(err, storage.ErrAlreadyExists) {
		return nil, ErrWrongCode
	}
	if err != nil {
		return nil, err
	}
	set.Unused = slices.Delete(set.Unused, i, i+1)
	data, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	next := *cred
	next.Secret, next.UpdatedAt = data, now
	return &next, nil
}
