package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/internal/outbox"
)

func TestBadEvents(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"events_http_url", "events.webhooks[0].url: must use https unless its host is loopback"},
		{"events_relative_url", "events.webhooks[0].url: is not an absolute https URL"},
		{"events_missing_url", "events.webhooks[0].url: required"},
		{"events_url_user", "events.webhooks[0].url: must not hold a user name or password"},
		{"events_duplicate_url", "events.webhooks[1].url: is listed twice"},
		{"events_missing_secret", "events.webhooks[0].secret: required (or secret_file)"},
		{"events_both_secrets", "events.webhooks[0].secret: set either secret or secret_file, not both"},
		{"events_short_secret", "events.webhooks[0].secret: must be at least 24 bytes, got 12"},
		{"events_bad_whsec", "events.webhooks[0].secret: a secret starting with whsec_ must go on in standard base64"},
		{"events_short_whsec", "events.webhooks[0].secret: a whsec_ secret must hold 24 to 64 bytes, got 16"},
		{"events_missing_secret_file", "events.webhooks[0].secret_file: open testdata/does-not-exist"},
		{"events_unknown_topic", `events.webhooks[0].topics[1]: unknown topic "user.delete" (known: user.deleted)`},
		{"events_empty_topics", "events.webhooks[0].topics: must name at least one topic, or be left out for every topic"},
		{"events_unknown_key", "line 4: events.webhooks[0].secrett: unknown key"},
		{"events_bad_retention", `events.retention: "30d" is not a duration`},
		{"events_negative_retention", "events.retention: must be positive, got -1h0m0s"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := load(t, filepath.Join("testdata", tc.file+".bad.yaml"), noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\ndoes not contain %q", err, tc.want)
			}
			// Neither the secret nor the URL's credential is repeated.
			for _, secret := range []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "short-secret", "not*base64", "s3cr3t-in-url", "user:pass"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q repeats %q", err, secret)
				}
			}
		})
	}
}

func TestEvents(t *testing.T) {
	env := map[string]string{
		"ATRIUM_EVENTS_WEBHOOKS": `[{"url": "https://hooks.example.com/atrium", "secret_file": "testdata/webhook.secret", "topics": ["user.deleted"]},
			{"url": "http://127.0.0.1:9000/hook", "secret": "a plain secret of some thirty bytes"}]`,
		"ATRIUM_EVENTS_RETENTION": "168h",
	}
	c, err := load(t, "", envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	want := []Webhook{
		{URL: "https://hooks.example.com/atrium", SecretFile: "testdata/webhook.secret", Topics: []string{"user.deleted"}},
		{URL: "http://127.0.0.1:9000/hook", Secret: "a plain secret of some thirty bytes"},
	}
	if !reflect.DeepEqual(c.Events.Webhooks, want) || c.EventsRetention() != 168*time.Hour {
		t.Errorf("events = %+v, retention %s; want %+v, 168h", c.Events.Webhooks, c.EventsRetention(), want)
	}
	file, err := c.WebhookKey(0)
	inline, _ := outbox.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil || string(file) != string(inline) {
		t.Errorf("WebhookKey(0) = %x, %v; want the decoded whsec_ secret of the file", file, err)
	}
	if key, err := c.WebhookKey(1); err != nil || string(key) != "a plain secret of some thirty bytes" {
		t.Errorf("WebhookKey(1) = %q, %v; want the secret's bytes", key, err)
	}

	c, err = load(t, "", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.EventsRetention() != 30*24*time.Hour || len(c.Events.Webhooks) != 0 {
		t.Errorf("without events: retention %s, %d webhooks; want 30 days and none", c.EventsRetention(), len(c.Events.Webhooks))
	}

	env["ATRIUM_EVENTS_WEBHOOKS"] = `[{"url": "http://hooks.example.com/atrium", "secret": "a plain secret of some thirty bytes"}]`
	if _, err := load(t, "", envOf(env)); err == nil || !strings.Contains(err.Error(), "events.webhooks[0] (from ATRIUM_EVENTS_WEBHOOKS).url: must use https") {
		t.Errorf("http URL from the environment: %v, want an error naming the key and the variable", err)
	}
}
