package consent

import (
	"slices"
	"testing"

	"github.com/atrium-id/atrium/storage"
)

func stored(version string, scopes ...string) *storage.Consent {
	return &storage.Consent{UserID: "u", ClientID: "c", Scopes: scopes, PolicyVersion: version}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name    string
		req     Request
		ask     bool
		newOnes []string
	}{
		{"no consent yet", Request{Requested: []string{"openid", "email"}}, true, []string{"email"}},
		{"openid only, no consent yet", Request{Requested: []string{"openid"}}, true, nil},
		{"remembered", Request{Requested: []string{"openid", "email"}, Stored: stored("", "email", "profile")}, false, nil},
		{"openid only, remembered", Request{Requested: []string{"openid"}, Stored: stored("")}, false, nil},
		{"a new scope", Request{Requested: []string{"openid", "email", "phone"}, Stored: stored("", "email")}, true, []string{"phone"}},
		{"fewer scopes than granted", Request{Requested: []string{"openid"}, Stored: stored("", "email")}, false, nil},
		{"policy bumped", Request{Requested: []string{"openid", "email"}, Stored: stored("2031-01", "email"), PolicyVersion: "2031-02"}, true, []string{"email"}},
		{"policy set after an unversioned consent", Request{Requested: []string{"openid"}, Stored: stored(""), PolicyVersion: "1"}, true, nil},
		{"same policy", Request{Requested: []string{"openid", "email"}, Stored: stored("2031-02", "email"), PolicyVersion: "2031-02"}, false, nil},
		{"prompt=consent", Request{Requested: []string{"openid", "email"}, Stored: stored("", "email"), Prompt: []string{"consent"}}, true, nil},
		{"prompt=login consent", Request{Requested: []string{"openid"}, Stored: stored(""), Prompt: []string{"login", "consent"}}, true, nil},
		{"first party without consent", Request{Requested: []string{"openid", "email"}, FirstParty: true}, false, []string{"email"}},
		{"first party, policy bumped", Request{Requested: []string{"openid"}, Stored: stored("1"), PolicyVersion: "2", FirstParty: true}, false, nil},
		{"first party with prompt=consent", Request{Requested: []string{"openid", "email"}, FirstParty: true, Prompt: []string{"consent"}}, true, []string{"email"}},
		{"repeated scope", Request{Requested: []string{"openid", "email", "email"}}, true, []string{"email"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.req)
			if d.Ask != tc.ask || !slices.Equal(d.New, tc.newOnes) {
				t.Errorf("Decide = ask %v, new %q; want ask %v, new %q", d.Ask, d.New, tc.ask, tc.newOnes)
			}
		})
	}
}

func TestGranted(t *testing.T) {
	tests := []struct {
		name              string
		requested, ticked []string
		want              []string
	}{
		{"all ticked", []string{"openid", "profile", "email"}, []string{"email", "profile"}, []string{"openid", "profile", "email"}},
		{"some unticked", []string{"openid", "profile", "email", "offline_access"}, []string{"email"}, []string{"openid", "email"}},
		{"none ticked", []string{"openid", "profile"}, nil, []string{"openid"}},
		{"openid cannot be left out", []string{"openid", "email"}, []string{"email"}, []string{"openid", "email"}},
		{"a scope never requested is ignored", []string{"openid", "email"}, []string{"email", "phone", "admin"}, []string{"openid", "email"}},
		{"a repeated tick counts once", []string{"openid", "email"}, []string{"email", "email"}, []string{"openid", "email"}},
		{"no openid requested", []string{"api"}, []string{"api"}, []string{"api"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Granted(tc.requested, tc.ticked); !slices.Equal(got, tc.want) {
				t.Errorf("Granted(%q, %q) = %q, want %q", tc.requested, tc.ticked, got, tc.want)
			}
		})
	}
}

func TestOptional(t *testing.T) {
	if got, want := Optional([]string{"openid", "email", "", "email", "phone"}), []string{"email", "phone"}; !slices.Equal(got, want) {
		t.Errorf("Optional = %q, want %q", got, want)
	}
}

func TestDescribe(t *testing.T) {
	for _, s := range []string{"profile", "email", "address", "phone", "offline_access"} {
		if Describe(s) == "" {
			t.Errorf("Describe(%q) is empty: a standard scope needs plain words", s)
		}
	}
	if d := Describe("api"); d != "" {
		t.Errorf("Describe(unknown scope) = %q, want empty", d)
	}
}
