package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestBadPurposes(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"consent_purpose_missing_id", "consent.purposes[0].id: required"},
		{"consent_purpose_bad_id", `consent.purposes[0].id: "News Letter" must be at most 40 lower-case letters, digits, '_' or '-'`},
		{"consent_purpose_duplicate_id", `consent.purposes[1].id: "newsletter" is declared twice`},
		{"consent_purpose_missing_label", "consent.purposes[0].label: required"},
		{"consent_purpose_bad_label", "consent.purposes[0].label: must be at most 100 characters, without control characters"},
		{"consent_purpose_unknown_key", "line 5: consent.purposes[0].descriptionn: unknown key"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := load(t, filepath.Join("testdata", tc.file+".bad.yaml"), noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

func TestPurposes(t *testing.T) {
	env := map[string]string{"ATRIUM_CONSENT_PURPOSES": `[{"id": "newsletter", "label": "Newsletter", "description": "Our monthly news."}, {"id": "product_offers-2", "label": "Offers"}]`}
	c, err := load(t, "", envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	want := []Purpose{{ID: "newsletter", Label: "Newsletter", Description: "Our monthly news."}, {ID: "product_offers-2", Label: "Offers"}}
	if !reflect.DeepEqual(c.Consent.Purposes, want) {
		t.Errorf("consent.purposes = %+v, want %+v", c.Consent.Purposes, want)
	}

	env["ATRIUM_CONSENT_PURPOSES"] = `[{"id": "Newsletter", "label": "Newsletter"}]`
	if _, err := load(t, "", envOf(env)); err == nil || !strings.Contains(err.Error(), "consent.purposes[0].id (from ATRIUM_CONSENT_PURPOSES)") {
		t.Errorf("upper-case ID from the environment: %v, want an error naming the key and the variable", err)
	}
}
