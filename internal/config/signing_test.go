package config

import (
	"strings"
	"testing"
	"time"
)

func TestSigningRotation(t *testing.T) {
	for _, tc := range []struct {
		name          string
		env           map[string]string
		every, before time.Duration
		retire        time.Duration
	}{
		{"defaults: rotation by hand only", nil, 0, 24 * time.Hour, 24 * time.Hour},
		{"90 days, published a day ahead", map[string]string{"ATRIUM_SIGNING_ROTATE_EVERY": "2160h"}, 2160 * time.Hour, 24 * time.Hour, 24 * time.Hour},
		{"0 turns it off", map[string]string{"ATRIUM_SIGNING_ROTATE_EVERY": "0"}, 0, 24 * time.Hour, 24 * time.Hour},
		{"the shortest publish_before", map[string]string{"ATRIUM_SIGNING_ROTATE_EVERY": "1h", "ATRIUM_SIGNING_PUBLISH_BEFORE": "90s"}, time.Hour, 90 * time.Second, 24 * time.Hour},
		{"retire_after follows long ID tokens", map[string]string{"ATRIUM_TOKENS_ID_TOKEN_LIFESPAN": "48h"}, 0, 24 * time.Hour, 48*time.Hour + 90*time.Second},
		{"retire_after follows long access tokens", map[string]string{"ATRIUM_TOKENS_ACCESS_TOKEN_LIFESPAN": "36h"}, 0, 24 * time.Hour, 36*time.Hour + 90*time.Second},
		{"the shortest retire_after", map[string]string{"ATRIUM_SIGNING_RETIRE_AFTER": "61m30s"}, 0, 24 * time.Hour, time.Hour + 90*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, "", envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Signing.RotateEvery.D != tc.every || c.SigningPublishBefore() != tc.before || c.Signing.RetireAfter.D != tc.retire {
				t.Errorf("rotate_every %s, publish_before %s, retire_after %s; want %s, %s, %s",
					c.Signing.RotateEvery.D, c.SigningPublishBefore(), c.Signing.RetireAfter.D, tc.every, tc.before, tc.retire)
			}
		})
	}
}

func TestBadSigning(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"rotate_every not a duration", map[string]string{"ATRIUM_SIGNING_ROTATE_EVERY": "90d"},
			`signing.rotate_every (from ATRIUM_SIGNING_ROTATE_EVERY): "90d" is not a duration (use Go syntax such as 2160h for 90 days`},
		{"negative rotate_every", map[string]string{"ATRIUM_SIGNING_ROTATE_EVERY": "-1h"},
			"signing.rotate_every (from ATRIUM_SIGNING_ROTATE_EVERY): must not be negative, got -1h0m0s (0 rotates only by hand)"},
		{"publish_before not a duration", map[string]string{"ATRIUM_SIGNING_PUBLISH_BEFORE": "a day"},
			`signing.publish_before (from ATRIUM_SIGNING_PUBLISH_BEFORE): "a day" is not a duration`},
		{"negative publish_before", map[string]string{"ATRIUM_SIGNING_PUBLISH_BEFORE": "-1h"},
			"signing.publish_before (from ATRIUM_SIGNING_PUBLISH_BEFORE): must be at least 1m30s (the JWKS max-age 1m0s plus the key reload interval 30s), so relying parties have the next key before its first token, got -1h0m0s"},
		{"publish_before within the JWKS cache", map[string]string{"ATRIUM_SIGNING_ROTATE_EVERY": "2160h", "ATRIUM_SIGNING_PUBLISH_BEFORE": "89s"},
			"signing.publish_before (from ATRIUM_SIGNING_PUBLISH_BEFORE): must be at least 1m30s (the JWKS max-age 1m0s plus the key reload interval 30s), so relying parties have the next key before its first token, got 1m29s"},
		{"publish_before as long as the rotation", map[string]string{"ATRIUM_SIGNING_ROTATE_EVERY": "24h"},
			"signing.publish_before: 24h0m0s (the default) must be shorter than signing.rotate_every (from ATRIUM_SIGNING_ROTATE_EVERY) (24h0m0s)"},
		{"publish_before longer than the rotation", map[string]string{"ATRIUM_SIGNING_ROTATE_EVERY": "2h", "ATRIUM_SIGNING_PUBLISH_BEFORE": "3h"},
			"signing.publish_before (from ATRIUM_SIGNING_PUBLISH_BEFORE): 3h0m0s must be shorter than signing.rotate_every"},
		{"retire_after shorter than the ID tokens", map[string]string{"ATRIUM_SIGNING_RETIRE_AFTER": "1h"},
			"signing.retire_after (from ATRIUM_SIGNING_RETIRE_AFTER): 1h0m0s is shorter than 1h1m30s: tokens.id_token_lifespan (1h0m0s) plus the key reload interval (30s) and the JWKS max-age (1m0s); a token signed just before a rotation would stop verifying before it expires"},
		{"retire_after shorter than the access tokens", map[string]string{"ATRIUM_SIGNING_RETIRE_AFTER": "24h", "ATRIUM_TOKENS_ACCESS_TOKEN_LIFESPAN": "24h"},
			"signing.retire_after (from ATRIUM_SIGNING_RETIRE_AFTER): 24h0m0s is shorter than 24h1m30s: tokens.access_token_lifespan (from ATRIUM_TOKENS_ACCESS_TOKEN_LIFESPAN) (24h0m0s)"},
		{"retire_after not a duration", map[string]string{"ATRIUM_SIGNING_RETIRE_AFTER": "forever"},
			`signing.retire_after (from ATRIUM_SIGNING_RETIRE_AFTER): "forever" is not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, "", envOf(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\ndoes not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q reports more than the one problem", err)
			}
		})
	}
}

func TestSigningFromFile(t *testing.T) {
	c, err := loadYAML(t, `
signing:
  rotate_every: 720h
  publish_before: 2h
  retire_after: 48h
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Signing.RotateEvery.D != 720*time.Hour || c.SigningPublishBefore() != 2*time.Hour || c.Signing.RetireAfter.D != 48*time.Hour {
		t.Errorf("signing = %+v", c.Signing)
	}
	if _, err := loadYAML(t, "signing:\n  rotate_every: 2h\n  publish_before: 1m\n"); err == nil || !strings.Contains(err.Error(), "signing.publish_before: must be at least 1m30s") {
		t.Errorf("publish_before 1m in a file: error %v", err)
	}
}
