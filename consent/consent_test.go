package consent

import (
	"slices"
	"testing"

	"github.com/atrium-id/atrium/storage"
)

func stored(version string, scopes ...string) *storage.Consent {
	return &storage.Consent{UserID: "u", ClientID: "c", Scopes: scopes, PolicyVersion: version}
}

// declining is c declining scopes.
func declining(c *storage.Consent, scopes ...string) *storage.Consent {
	c.Declined = scopes
	return c
}

// reaching is c letting the client reach resources.
func reaching(c *storage.Consent, resources ...string) *storage.Consent {
	c.Resources = resources
	return c
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name     string
		req      Request
		ask      bool
		newOnes  []string
		declined []string
	}{
		{"no consent yet", Request{Requested: []string{"openid", "email"}}, true, []string{"email"}, nil},
		{"openid only, no consent yet", Request{Requested: []string{"openid"}}, true, nil, nil},
		{"remembered", Request{Requested: []string{"openid", "email"}, Stored: stored("", "email", "profile")}, false, nil, nil},
		{"openid only, remembered", Request{Requested: []string{"openid"}, Stored: stored("")}, false, nil, nil},
		{"a new scope", Request{Requested: []string{"openid", "email", "phone"}, Stored: stored("", "email")}, true, []string{"phone"}, nil},
		{"fewer scopes than granted", Request{Requested: []string{"openid"}, Stored: stored("", "email")}, false, nil, nil},
		{"policy bumped", Request{Requested: []string{"openid", "email"}, Stored: stored("2031-01", "email"), PolicyVersion: "2031-02"}, true, []string{"email"}, nil},
		{"policy set after an unversioned consent", Request{Requested: []string{"openid"}, Stored: stored(""), PolicyVersion: "1"}, true, nil, nil},
		{"same policy", Request{Requested: []string{"openid", "email"}, Stored: stored("2031-02", "email"), PolicyVersion: "2031-02"}, false, nil, nil},
		{"prompt=consent", Request{Requested: []string{"openid", "email"}, Stored: stored("", "email"), Prompt: []string{"consent"}}, true, nil, nil},
		{"prompt=login consent", Request{Requested: []string{"openid"}, Stored: stored(""), Prompt: []string{"login", "consent"}}, true, nil, nil},
		{"first party without consent", Request{Requested: []string{"openid", "email"}, FirstParty: true}, false, []string{"email"}, nil},
		{"first party, policy bumped", Request{Requested: []string{"openid"}, Stored: stored("1"), PolicyVersion: "2", FirstParty: true}, false, nil, nil},
		{"first party with prompt=consent", Request{Requested: []string{"openid", "email"}, FirstParty: true, Prompt: []string{"consent"}}, true, []string{"email"}, nil},
		{"repeated scope", Request{Requested: []string{"openid", "email", "email"}}, true, []string{"email"}, nil},
		{"declined is remembered", Request{Requested: []string{"openid", "email", "phone"}, Stored: declining(stored("", "email"), "phone")}, false, nil, []string{"phone"}},
		{"everything declined", Request{Requested: []string{"openid", "email", "phone"}, Stored: declining(stored(""), "phone", "email")}, false, nil, []string{"email", "phone"}},
		{"declined, and a new scope", Request{Requested: []string{"openid", "phone", "address", "email"}, Stored: declining(stored("", "email"), "phone")}, true, []string{"address"}, []string{"phone"}},
		{"declined, not requested now", Request{Requested: []string{"openid", "email"}, Stored: declining(stored("", "email"), "phone")}, false, nil, nil},
		{"declined, prompt=consent", Request{Requested: []string{"openid", "email", "phone"}, Stored: declining(stored("", "email"), "phone"), Prompt: []string{"consent"}}, true, nil, []string{"phone"}},
		{"declined under another policy", Request{Requested: []string{"openid", "email", "phone"}, Stored: declining(stored("1", "email"), "phone"), PolicyVersion: "2"}, true, []string{"email", "phone"}, nil},
		{"granted wins over declined", Request{Requested: []string{"openid", "phone"}, Stored: declining(stored("", "phone"), "phone")}, false, nil, nil},
		{"first party, declined", Request{Requested: []string{"openid", "phone"}, Stored: declining(stored(""), "phone"), FirstParty: true, Prompt: []string{"consent"}}, true, nil, []string{"phone"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.req)
			if d.Ask != tc.ask || !slices.Equal(d.New, tc.newOnes) || !slices.Equal(d.Declined, tc.declined) {
				t.Errorf("Decide = ask %v, new %q, declined %q; want ask %v, new %q, declined %q", d.Ask, d.New, d.Declined, tc.ask, tc.newOnes, tc.declined)
			}
		})
	}
}

const (
	apiA = "https://a.example.com/api"
	apiB = "https://b.example.com"
)

// TestDecideResources: a resource the stored consent does not let the app
// reach asks, as a new scope does.
func TestDecideResources(t *testing.T) {
	oe := []string{"openid", "email"}
	tests := []struct {
		name     string
		req      Request
		ask      bool
		newOnes  []string // NewResources
		answered bool
	}{
		{"no consent yet", Request{Requested: oe, Resources: []string{apiA}}, true, []string{apiA}, false},
		{"remembered", Request{Requested: oe, Resources: []string{apiA}, Stored: reaching(stored("", "email"), apiA)}, false, nil, true},
		{"a new resource", Request{Requested: oe, Resources: []string{apiB}, Stored: reaching(stored("", "email"), apiA)}, true, []string{apiB}, true},
		{"one known, one new", Request{Requested: oe, Resources: []string{apiA, apiB}, Stored: reaching(stored("", "email"), apiA)}, true, []string{apiB}, true},
		{"a resource, scopes known", Request{Requested: []string{"openid"}, Resources: []string{apiA}, Stored: stored("")}, true, []string{apiA}, true},
		{"no resource requested", Request{Requested: oe, Stored: reaching(stored("", "email"), apiA)}, false, nil, true},
		{"fewer resources than allowed", Request{Requested: oe, Resources: []string{apiB}, Stored: reaching(stored("", "email"), apiA, apiB)}, false, nil, true},
		{"a repeated resource", Request{Requested: oe, Resources: []string{apiB, "", apiB}, Stored: reaching(stored("", "email"), apiA)}, true, []string{apiB}, true},
		{"new scope and new resource", Request{Requested: []string{"openid", "phone"}, Resources: []string{apiB}, Stored: reaching(stored("", "email"), apiA)}, true, []string{apiB}, true},
		{"policy bumped", Request{Requested: oe, Resources: []string{apiA}, Stored: reaching(stored("1", "email"), apiA), PolicyVersion: "2"}, true, []string{apiA}, false},
		{"prompt=consent", Request{Requested: oe, Resources: []string{apiA}, Stored: reaching(stored("", "email"), apiA), Prompt: []string{"consent"}}, true, nil, true},
		{"first party", Request{Requested: oe, Resources: []string{apiA, apiB}, FirstParty: true}, false, []string{apiA, apiB}, false},
		{"first party, a new resource", Request{Requested: oe, Resources: []string{apiB}, Stored: reaching(stored("", "email"), apiA), FirstParty: true}, false, []string{apiB}, true},
		{"first party with prompt=consent", Request{Requested: oe, Resources: []string{apiA}, FirstParty: true, Prompt: []string{"consent"}}, true, []string{apiA}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.req)
			if d.Ask != tc.ask || !slices.Equal(d.NewResources, tc.newOnes) || d.Answered != tc.answered {
				t.Errorf("Decide = ask %v, new resources %q, answered %v; want ask %v, new resources %q, answered %v",
					d.Ask, d.NewResources, d.Answered, tc.ask, tc.newOnes, tc.answered)
			}
		})
	}
}

func TestDecisionGrant(t *testing.T) {
	tests := []struct {
		name      string
		d         Decision
		requested []string
		want      []string
	}{
		{"nothing declined", Decision{}, []string{"openid", "email", "phone"}, []string{"openid", "email", "phone"}},
		{"one declined", Decision{Declined: []string{"phone"}}, []string{"openid", "email", "phone"}, []string{"openid", "email"}},
		{"all declined", Decision{Declined: []string{"phone", "email"}}, []string{"openid", "email", "phone"}, []string{"openid"}},
		{"openid is never declined", Decision{Declined: []string{"openid"}}, []string{"openid", "email"}, []string{"openid", "email"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.d.Grant(tc.requested); !slices.Equal(got, tc.want) {
				t.Errorf("Grant(%q) = %q, want %q", tc.requested, got, tc.want)
			}
		})
	}
}

func TestAnswer(t *testing.T) {
	tests := []struct {
		name              string
		stored            *storage.Consent // nil: none yet
		requested, ticked []string
		granted           []string // Answer's result
		scopes, declined  []string // the consent after
	}{
		{"first answer", nil, []string{"openid", "email", "phone"}, []string{"email"},
			[]string{"openid", "email"}, []string{"email"}, []string{"phone"}},
		{"everything ticked", nil, []string{"openid", "email", "phone"}, []string{"phone", "email"},
			[]string{"openid", "email", "phone"}, []string{"email", "phone"}, nil},
		{"ticking a declined scope grants it", declining(stored("v1", "email"), "phone"), []string{"openid", "phone"}, []string{"phone"},
			[]string{"openid", "phone"}, []string{"email", "phone"}, nil},
		{"unticking a granted scope declines it", stored("v1", "email", "profile"), []string{"openid", "email"}, nil,
			[]string{"openid"}, []string{"profile"}, []string{"email"}},
		{"decisions about scopes not requested stay", declining(stored("v1", "email"), "phone"), []string{"openid", "address"}, nil,
			[]string{"openid"}, []string{"email"}, []string{"phone", "address"}},
		{"another policy's decisions go", declining(stored("v0", "email"), "phone"), []string{"openid", "address"}, []string{"address"},
			[]string{"openid", "address"}, []string{"address"}, nil},
		{"a tick never requested is ignored", nil, []string{"openid", "email"}, []string{"admin", "phone", ""},
			[]string{"openid"}, nil, []string{"email"}},
		{"a repeated scope counts once", nil, []string{"openid", "email", "email", "phone"}, []string{"phone", "phone"},
			[]string{"openid", "phone"}, []string{"phone"}, []string{"email"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &storage.Consent{UserID: "u", ClientID: "c"}
			if tc.stored != nil {
				c = tc.stored
			}
			granted := Answer(c, "v1", tc.requested, tc.ticked, nil)
			if !slices.Equal(granted, tc.granted) || !slices.Equal(c.Scopes, tc.scopes) || !slices.Equal(c.Declined, tc.declined) || c.PolicyVersion != "v1" {
				t.Errorf("Answer(%q, %q) = %q, consent %q declined %q under %q; want %q, consent %q declined %q under v1",
					tc.requested, tc.ticked, granted, c.Scopes, c.Declined, c.PolicyVersion, tc.granted, tc.scopes, tc.declined)
			}
		})
	}
}

// TestAnswerResources: allowing the screen lets the app reach the
// resources requested as well as those it could before, under the
// current policy version.
func TestAnswerResources(t *testing.T) {
	tests := []struct {
		name      string
		stored    *storage.Consent // nil: none yet
		resources []string         // requested
		want      []string         // the consent's after
	}{
		{"first answer", nil, []string{apiA}, []string{apiA}},
		{"none requested", nil, nil, nil},
		{"a new one is added", reaching(stored("v1"), apiA), []string{apiB}, []string{apiA, apiB}},
		{"a known one stays once", reaching(stored("v1"), apiA), []string{apiA, apiB, apiB, ""}, []string{apiA, apiB}},
		{"none requested keeps them", reaching(stored("v1"), apiA), nil, []string{apiA}},
		{"another policy's go", reaching(stored("v0"), apiA), []string{apiB}, []string{apiB}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &storage.Consent{UserID: "u", ClientID: "c"}
			if tc.stored != nil {
				c = tc.stored
			}
			Answer(c, "v1", []string{"openid"}, nil, tc.resources)
			if !slices.Equal(c.Resources, tc.want) {
				t.Errorf("Answer(resources %q) leaves the consent reaching %q, want %q", tc.resources, c.Resources, tc.want)
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
