package login

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// The rules for a new password follow NIST SP 800-63B §5.1.1.2: a minimum
// length, a generous maximum, no composition rules (no "one digit, one
// symbol"), and a check against passwords known to be common or tied to
// the account. Passwords are compared and hashed in Unicode NFKC form, so
// the same password typed on another keyboard or system still matches.
const (
	// MinPasswordLength is the fewest characters a new password may have.
	MinPasswordLength = 8
	// MaxPasswordLength is the most characters (after normalization) a new
	// password may have. It is never truncated: a longer one is refused.
	MaxPasswordLength = 256
	// maxInputBytes bounds the input read at all, before normalization:
	// four bytes per character of the longest accepted password. It also
	// covers passwords set before the 256-character limit (then 1024 bytes).
	maxInputBytes = 4 * MaxPasswordLength
)

// Reason says which rule a password broke.
type Reason int

// Reasons a new password is refused.
const (
	TooShort Reason = iota + 1
	TooLong
	Common
	Related // equal to the email address or another value of the account
)

// PasswordError is a new password that breaks a rule. Error is a message
// for the person choosing it; errors.Is(err, ErrWeakPassword) holds.
type PasswordError struct {
	Reason Reason
	msg    string
}

func (e *PasswordError) Error() string { return e.msg }

// Is makes every PasswordError match ErrWeakPassword.
func (e *PasswordError) Is(target error) bool { return target == ErrWeakPassword }

// ErrWeakPassword matches every PasswordError (errors.Is).
var ErrWeakPassword = &PasswordError{msg: "password does not meet the rules"}

// CommonPasswordsSource names the list CheckNewPassword refuses passwords
// from (see common-passwords.README).
const CommonPasswordsSource = "zxcvbn 4.4.2 passwords frequency list, top 10,000 (MIT)"

//go:embed common-passwords.txt
var commonPasswordsText string

var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 10000)
	for line := range strings.Lines(commonPasswordsText) {
		if s := strings.TrimRight(line, "\r\n"); s != "" {
			m[fold(s)] = struct{}{}
		}
	}
	return m
})

// normalize returns password in Unicode NFKC form, the form it is checked
// and hashed in.
func normalize(password string) string { return norm.NFKC.String(password) }

// fold is the form in which passwords and related values are compared:
// NFKC, then lower case.
func fold(s string) string { return strings.ToLower(normalize(s)) }

// CheckNewPassword reports whether pw may be set as a password, returning
// a *PasswordError when it may not. related are values of the account the
// password must not equal, such as its email address (compared without
// regard to case, and for an email also its part before the @).
func CheckNewPassword(pw string, related ...string) error {
	if len(pw) > maxInputBytes {
		return tooLong()
	}
	n := utf8.RuneCountInString(normalize(pw))
	switch {
	case n < MinPasswordLength:
		return &PasswordError{TooShort, fmt.Sprintf("Use at least %d characters", MinPasswordLength)}
	case n > MaxPasswordLength:
		return tooLong()
	}
	f := fold(pw)
	for _, r := range related {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		local, _, isEmail := strings.Cut(r, "@")
		if f == fold(r) || isEmail && local != "" && f == fold(local) {
			if isEmail {
				return &PasswordError{Related, "Don't use your email address as password"}
			}
			return &PasswordError{Related, "Don't use your name or account details as password"}
		}
	}
	if _, ok := commonPasswords()[f]; ok {
		return &PasswordError{Common, "This password is too common; choose another"}
	}
	return nil
}

func tooLong() error {
	return &PasswordError{TooLong, fmt.Sprintf("Use at most %d characters", MaxPasswordLength)}
}
