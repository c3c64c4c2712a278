package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Purpose is a reason the operator sends users messages (consent.purposes),
// such as a newsletter. Users opt into it per channel (ConsentChannels) on
// the account's Preferences page; each change is recorded in the consent
// ledger under the purpose's ID.
type Purpose struct {
	// ID names the purpose in the ledger and the export: lower-case
	// letters, digits, '_' and '-', such as "newsletter".
	ID string `yaml:"id"`
	// Label and Description are English; the pages show a translation
	// when their catalog has one, else the text as written.
	Label       string `yaml:"label"`
	Description string `yaml:"description"`
}

// ConsentChannels are the channels a user opts into per purpose.
var ConsentChannels = []string{"email", "sms"}

// Limits of consent.purposes.
const (
	MaxPurposes           = 20
	MaxPurposeID          = 40
	MaxPurposeLabel       = 100
	MaxPurposeDescription = 500
)

var purposeIDRe = regexp.MustCompile(`^[a-z0-9_-]+$`)

func (c *Config) validatePurposes() []error {
	var errs []error
	// A list from ATRIUM_CONSENT_PURPOSES names the variable after each
	// entry's key.
	bad := func(path, format string, args ...any) {
		if env, ok := c.from["consent.purposes"]; ok {
			path += " (from " + env + ")"
		}
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{path}, args...)...))
	}
	if len(c.Consent.Purposes) > MaxPurposes {
		bad("consent.purposes", "at most %d purposes, got %d", MaxPurposes, len(c.Consent.Purposes))
	}
	seen := map[string]bool{}
	for i, p := range c.Consent.Purposes {
		at := "consent.purposes[" + strconv.Itoa(i) + "]"
		switch {
		case p.ID == "":
			bad(at+".id", "required")
		case len(p.ID) > MaxPurposeID || !purposeIDRe.MatchString(p.ID):
			bad(at+".id", "%q must be at most %d lower-case letters, digits, '_' or '-'", p.ID, MaxPurposeID)
		case seen[p.ID]:
			bad(at+".id", "%q is declared twice", p.ID)
		}
		seen[p.ID] = true
		for _, f := range []struct {
			name, v string
			max     int
		}{{"label", p.Label, MaxPurposeLabel}, {"description", p.Description, MaxPurposeDescription}} {
			switch {
			case f.name == "label" && strings.TrimSpace(f.v) == "":
				bad(at+".label", "required")
			case utf8.RuneCountInString(f.v) > f.max || strings.IndexFunc(f.v, unicode.IsControl) >= 0 || !utf8.ValidString(f.v):
				bad(at+"."+f.name, "must be at most %d characters, without control characters", f.max)
			}
		}
	}
	return errs
}
