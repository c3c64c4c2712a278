package outbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Lengths of a webhook secret, in bytes. Standard Webhooks secrets
// ("whsec_" and the base64 of the key) hold 24 to 64 bytes.
const (
	MinSecret = 24
	MaxSecret = 64
)

// secretPrefix starts a secret in the Standard Webhooks form.
const secretPrefix = "whsec_"

// ParseSecret returns the HMAC key of a webhook secret: for the Standard
// Webhooks form "whsec_<base64>" (what their libraries take) the decoded
// bytes, 24 to 64 of them; for any other string its own bytes, at least
// 24. Errors never repeat the secret.
func ParseSecret(s string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(s, secretPrefix); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, errors.New("a secret starting with whsec_ must go on in standard base64 (e.g. `echo whsec_$(openssl rand -base64 32)`)")
		}
		if len(key) < MinSecret || len(key) > MaxSecret {
			return nil, fmt.Errorf("a whsec_ secret must hold %d to %d bytes, got %d", MinSecret, MaxSecret, len(key))
		}
		return key, nil
	}
	if len(s) < MinSecret {
		return nil, fmt.Errorf("must be at least %d bytes, got %d (generate one with `echo whsec_$(openssl rand -base64 32)`)", MinSecret, len(s))
	}
	return []byte(s), nil
}

// Sign returns the webhook-signature header of a request: "v1," and the
// base64 HMAC-SHA256, under key, of the message ID, the unix timestamp
// and the body, joined by dots.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
