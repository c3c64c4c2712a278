package config

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atrium-id/atrium/internal/outbox"
	"github.com/atrium-id/atrium/storage"
)

// Events delivers the messages of the outbox (such as user.deleted) to
// downstream systems as signed webhooks (package internal/outbox).
type Events struct {
	Webhooks []Webhook `yaml:"webhooks"`
	// Retention is how long a delivered message is kept; 0 means
	// outbox.DefaultRetention (30 days).
	Retention Duration `yaml:"retention"`
}

// Webhook is an endpoint of a downstream system.
type Webhook struct {
	// URL is https, or http on a loopback host.
	URL string `yaml:"url"`
	// Secret keys the signatures: "whsec_" and the base64 of 24 to 64
	// bytes (the Standard Webhooks form), or any string of at least 24
	// bytes. SecretFile names a file holding it instead.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Topics are the topics the hook gets (storage.Topics); none for all.
	Topics []string `yaml:"topics"`
}

// MaxWebhooks bounds events.webhooks.
const MaxWebhooks = 20

// EventsRetention is events.retention, or its default.
func (c *Config) EventsRetention() time.Duration {
	if c.Events.Retention.D == 0 {
		return outbox.DefaultRetention
	}
	return c.Events.Retention.D
}

// WebhookKey returns the HMAC key of events.webhooks[i]: its secret, or
// the contents of its secret_file with surrounding white space removed,
// as outbox.ParseSecret reads it.
func (c *Config) WebhookKey(i int) ([]byte, error) {
	h := c.Events.Webhooks[i]
	at := c.webhookKey(i)
	src, secret := at+".secret", h.Secret
	if h.SecretFile != "" {
		b, err := os.ReadFile(h.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("%s.secret_file: %w", at, err)
		}
		src, secret = at+".secret_file", string(bytes.TrimSpace(b))
	}
	key, err := outbox.ParseSecret(secret)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return key, nil
}

// webhookKey names events.webhooks[i] in a message, with the variable
// that set the list if any.
func (c *Config) webhookKey(i int) string {
	at := "events.webhooks[" + strconv.Itoa(i) + "]"
	if env, ok := c.from["events.webhooks"]; ok {
		return at + " (from " + env + ")"
	}
	return at
}

func (c *Config) validateEvents() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{path}, args...)...))
	}
	switch r := c.Events.Retention; {
	case r.bad:
		bad(c.key("events.retention"), "%q is not a duration (use Go syntax such as 720h)", r.raw)
	case r.D < 0 || (r.raw != "" && r.D == 0):
		bad(c.key("events.retention"), "must be positive, got %s", r.D)
	}
	if len(c.Events.Webhooks) > MaxWebhooks {
		bad(c.key("events.webhooks"), "at most %d webhooks, got %d", MaxWebhooks, len(c.Events.Webhooks))
	}
	seen := map[string]bool{}
	for i, h := range c.Events.Webhooks {
		at := c.webhookKey(i)
		// The URL may carry a credential of the receiver's: messages
		// do not repeat it.
		u, err := url.Parse(h.URL)
		switch {
		case h.URL == "":
			bad(at+".url", "required")
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			bad(at+".url", "is not an absolute https URL")
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			bad(at+".url", "must use https unless its host is loopback (127.0.0.0/8, ::1, localhost): the requests name users")
		case u.User != nil:
			bad(at+".url", "must not hold a user name or password: the requests are signed with the secret")
		case seen[h.URL]:
			bad(at+".url", "is listed twice")
		}
		seen[h.URL] = true
		switch {
		case h.Secret != "" && h.SecretFile != "":
			bad(at+".secret", "set either secret or secret_file, not both")
		case h.Secret == "" && h.SecretFile == "":
			bad(at+".secret", "required (or secret_file), e.g. `echo whsec_$(openssl rand -base64 32)`")
		default:
			if _, err := c.WebhookKey(i); err != nil {
				errs = append(errs, err)
			}
		}
		if h.Topics != nil && len(h.Topics) == 0 {
			bad(at+".topics", "must name at least one topic, or be left out for every topic")
		}
		for j, t := range h.Topics {
			if !slices.Contains(storage.Topics, t) {
				bad(at+".topics["+strconv.Itoa(j)+"]", "unknown topic %q (known: %s)", t, strings.Join(storage.Topics, ", "))
			}
		}
	}
	return errs
}
