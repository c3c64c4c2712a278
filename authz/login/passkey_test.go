package login_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/authz/login/passkeytest"
	"github.com/atrium-id/atrium/storage"
)

const (
	testRPID   = "id.example.com"
	testOrigin = "https://id.example.com"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newRP(t *testing.T) (*login.PasskeyRelyingParty, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	rp, err := login.NewPasskeyRelyingParty(login.PasskeyConfig{RPID: testRPID, Origins: []string{testOrigin}, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return rp, c
}

// register makes a passkey for u with a, through the ceremony, and adds
// it to u.Passkeys.
func register(t *testing.T, rp *login.PasskeyRelyingParty, a *passkeytest.Authenticator, u *login.PasskeyUser) *login.Passkey {
	t.Helper()
	opts, c, err := rp.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := rp.FinishRegistration(u, c, resp, "Laptop")
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	u.Passkeys = append(u.Passkeys, pk)
	return pk
}

func TestNewPasskeyRelyingPartyRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  login.PasskeyConfig
		want string
	}{
		{"no rp id", login.PasskeyConfig{Origins: []string{testOrigin}}, "rp_id is required"},
		{"no origin", login.PasskeyConfig{RPID: testRPID}, "at least one origin"},
		{"origin with a path", login.PasskeyConfig{RPID: testRPID, Origins: []string{testOrigin + "/login"}}, "is not scheme://host"},
		{"origin off the rp id", login.PasskeyConfig{RPID: testRPID, Origins: []string{"https://evil.example.net"}}, "not on rp_id"},
		{"ip address", login.PasskeyConfig{RPID: "127.0.0.1", Origins: []string{"http://127.0.0.1:8080"}}, "webauthn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := login.NewPasskeyRelyingParty(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestPasskeyRegistrationOptions(t *testing.T) {
	rp, _ := newRP(t)
	u := &login.PasskeyUser{ID: "0b7c1f3e-4a1d-4c43-9b89-1f0f3f7c2d11", Name: "ada@example.com", DisplayName: "Ada"}
	a := passkeytest.New(testOrigin)
	register(t, rp, a, u)
	opts, _, err := rp.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			RP  struct{ ID, Name string }
			Sel struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			Attestation string `json:"attestation"`
			Exclude     []struct {
				ID string `json:"id"`
			} `json:"excludeCredentials"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	pk := o.PublicKey
	if pk.RP.ID != testRPID || pk.RP.Name != "Atrium" || pk.Sel.ResidentKey != "required" || pk.Sel.UserVerification != "preferred" || pk.Attestation != "none" {
		t.Errorf("options = %s", opts)
	}
	if len(pk.Exclude) != 1 || pk.Exclude[0].ID != u.Passkeys[0].ID {
		t.Errorf("excludeCredentials = %v, want the registered passkey %s", pk.Exclude, u.Passkeys[0].ID)
	}
	if h, _ := base64.RawURLEncoding.DecodeString(pk.User.ID); string(h) != u.ID {
		t.Errorf("user handle %q, want the user ID", h)
	}
	// The authenticator holding the excluded passkey refuses; a second one
	// registers another.
	if _, err := a.Create(opts); err == nil {
		t.Error("the authenticator holding an excluded passkey made another")
	}
	if _, err := passkeytest.New(testOrigin).Create(opts); err != nil {
		t.Fatal(err)
	}
}

func TestPasskeyStoredRoundTrip(t *testing.T) {
	rp, c := newRP(t)
	u := &login.PasskeyUser{ID: "u1", Name: "ada@example.com"}
	pk := register(t, rp, passkeytest.New(testOrigin), u)
	cred, err := pk.Credential(u.ID, c.now())
	if err != nil {
		t.Fatal(err)
	}
	if cred.Type != storage.CredentialPasskey || cred.ID != pk.ID || cred.UserID != "u1" {
		t.Fatalf("credential = %+v", cred)
	}
	var doc map[string]any
	if err := json.Unmarshal(cred.Secret, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "public_key", "sign_count", "flags", "transports", "created_at"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("stored passkey lacks %q: %s", k, cred.Secret)
		}
	}
	back, err := login.PasskeyFromCredential(cred)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != pk.ID || back.Name != "Laptop" || string(back.PublicKey) != string(pk.PublicKey) || !back.CreatedAt.Equal(pk.CreatedAt) {
		t.Errorf("round trip: %+v, want %+v", back, pk)
	}
	if _, err := login.PasskeyFromCredential(&storage.Credential{Type: storage.CredentialPassword, Secret: []byte("$argon2id$")}); err == nil {
		t.Error("a password decoded as a passkey")
	}
}

func TestPasskeySignIn(t *testing.T) {
	rp, c := newRP(t)
	a := passkeytest.New(testOrigin)
	u := &login.PasskeyUser{ID: "u1", Name: "ada@example.com"}
	register(t, rp, a, u)
	lookup := func(h string) (*login.PasskeyUser, error) {
		if h == u.ID {
			return u, nil
		}
		return nil, storage.ErrNotFound
	}
	opts, cer, err := rp.BeginSignIn()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Get(opts, passkeytest.Tamper{})
	if err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Minute)
	as, err := rp.FinishSignIn(cer, resp, lookup)
	if err != nil {
		t.Fatalf("FinishSignIn: %v", err)
	}
	if as.UserID != u.ID || !as.UserVerified || as.Passkey.SignCount != 1 || !as.Passkey.LastUsedAt.Equal(c.t) {
		t.Fatalf("assertion = %+v, passkey %+v", as, as.Passkey)
	}

	// Without user verification the assertion says so.
	u.Passkeys[0] = as.Passkey
	a.UserVerified = false
	opts, cer, _ = rp.BeginSignIn()
	resp, _ = a.Get(opts, passkeytest.Tamper{})
	as, err = rp.FinishSignIn(cer, resp, lookup)
	if err != nil || as.UserVerified {
		t.Fatalf("without UV: %+v, %v", as, err)
	}
}

func TestPasskeySignInRefusesBadResponses(t *testing.T) {
	counter := uint32(3)
	zero := uint32(0)
	for _, tc := range []struct {
		name   string
		tamper func(a *passkeytest.Authenticator, other *passkeytest.Credential) passkeytest.Tamper
		age    time.Duration
		want   error
	}{
		{"another origin", func(*passkeytest.Authenticator, *passkeytest.Credential) passkeytest.Tamper {
			return passkeytest.Tamper{Origin: "https://id.example.com.evil.test"}
		}, 0, login.ErrPasskeyOrigin},
		{"bad signature", func(*passkeytest.Authenticator, *passkeytest.Credential) passkeytest.Tamper {
			return passkeytest.Tamper{BadSignature: true}
		}, 0, login.ErrPasskeyInvalid},
		{"counter went backwards", func(*passkeytest.Authenticator, *passkeytest.Credential) passkeytest.Tamper {
			return passkeytest.Tamper{Counter: &counter}
		}, 0, login.ErrPasskeyCloned},
		{"counter reset to zero", func(*passkeytest.Authenticator, *passkeytest.Credential) passkeytest.Tamper {
			return passkeytest.Tamper{Counter: &zero}
		}, 0, login.ErrPasskeyCloned},
		{"unknown credential", func(_ *passkeytest.Authenticator, other *passkeytest.Credential) passkeytest.Tamper {
			return passkeytest.Tamper{Credential: other}
		}, 0, login.ErrPasskeyUnknown},
		{"another challenge", func(*passkeytest.Authenticator, *passkeytest.Credential) passkeytest.Tamper {
			return passkeytest.Tamper{Challenge: []byte("an old challenge from before.....")}
		}, 0, login.ErrPasskeyExpired},
		{"expired ceremony", func(*passkeytest.Authenticator, *passkeytest.Credential) passkeytest.Tamper {
			return passkeytest.Tamper{}
		}, 5 * time.Minute, login.ErrPasskeyExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rp, c := newRP(t)
			a := passkeytest.New(testOrigin)
			u := &login.PasskeyUser{ID: "u1", Name: "ada@example.com"}
			register(t, rp, a, u)
			// The stored counter is 5: the authenticator has signed five times.
			u.Passkeys[0].SignCount = 5
			a.Credentials()[0].Counter = 5
			// A passkey of the same user handle on another authenticator
			// the relying party never registered.
			stranger := passkeytest.New(testOrigin)
			if _, err := stranger.Create(mustOptions(t, rp, &login.PasskeyUser{ID: "u1", Name: "x"})); err != nil {
				t.Fatal(err)
			}
			opts, cer, err := rp.BeginSignIn()
			if err != nil {
				t.Fatal(err)
			}
			resp, err := a.Get(opts, tc.tamper(a, stranger.Credentials()[0]))
			if err != nil {
				t.Fatal(err)
			}
			c.t = c.t.Add(tc.age)
			_, err = rp.FinishSignIn(cer, resp, func(string) (*login.PasskeyUser, error) { return u, nil })
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func mustOptions(t *testing.T, rp *login.PasskeyRelyingParty, u *login.PasskeyUser) []byte {
	t.Helper()
	opts, _, err := rp.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

func TestPasskeySecondFactor(t *testing.T) {
	rp, _ := newRP(t)
	a := passkeytest.New(testOrigin)
	ada := &login.PasskeyUser{ID: "ada", Name: "ada@example.com"}
	bob := &login.PasskeyUser{ID: "bob", Name: "bob@example.com"}
	register(t, rp, a, ada)
	register(t, rp, a, bob)

	opts, cer, err := rp.BeginSecondFactor(ada, false)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			Allow []struct{ ID string } `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	_ = json.Unmarshal(opts, &o)
	if len(o.PublicKey.Allow) != 1 || o.PublicKey.Allow[0].ID != ada.Passkeys[0].ID {
		t.Fatalf("allowCredentials = %v, want ada's passkey only", o.PublicKey.Allow)
	}
	// Bob's passkey, offered for Ada's second factor, is refused.
	resp, _ := a.Get(opts, passkeytest.Tamper{Credential: a.Credentials()[1]})
	if _, err := rp.FinishSecondFactor(cer, ada, resp); !errors.Is(err, login.ErrPasskeyUnknown) {
		t.Fatalf("another user's passkey: err = %v, want ErrPasskeyUnknown", err)
	}
	// A ceremony of Ada's does not serve Bob.
	resp, _ = a.Get(opts, passkeytest.Tamper{Credential: a.Credentials()[1]})
	if _, err := rp.FinishSecondFactor(cer, bob, resp); !errors.Is(err, login.ErrPasskeyExpired) {
		t.Fatalf("another user's ceremony: err = %v, want ErrPasskeyExpired", err)
	}
	// A sign-in ceremony is not a second-factor one.
	_, signIn, _ := rp.BeginSignIn()
	resp, _ = a.Get(opts, passkeytest.Tamper{})
	if _, err := rp.FinishSecondFactor(signIn, ada, resp); !errors.Is(err, login.ErrPasskeyExpired) {
		t.Fatalf("sign-in ceremony: err = %v, want ErrPasskeyExpired", err)
	}
	resp, _ = a.Get(opts, passkeytest.Tamper{})
	as, err := rp.FinishSecondFactor(cer, ada, resp)
	if err != nil || as.UserID != "ada" || as.Passkey.ID != ada.Passkeys[0].ID {
		t.Fatalf("ada's passkey: %+v, %v", as, err)
	}
}

func TestCleanPasskeyName(t *testing.T) {
	for in, want := range map[string]string{"  Laptop ": "Laptop", "Téléphone": "Téléphone", "": "", "a\x00b": "", strings.Repeat("x", 65): ""} {
		got, err := login.CleanPasskeyName(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("CleanPasskeyName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestPasskeySecondFactorCanRequireUserVerification(t *testing.T) {
	rp, _ := newRP(t)
	a := passkeytest.New(testOrigin)
	u := &login.PasskeyUser{ID: "ada", Name: "ada@example.com"}
	register(t, rp, a, u)
	a.UserVerified = false
	for _, verify := range []bool{false, true} {
		opts, cer, err := rp.BeginSecondFactor(u, verify)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]string{false: `"preferred"`, true: `"required"`}[verify]; !strings.Contains(string(opts), `"userVerification":`+want) {
			t.Errorf("verify %v: options %s", verify, opts)
		}
		resp, _ := a.Get(opts, passkeytest.Tamper{})
		_, err = rp.FinishSecondFactor(cer, u, resp)
		if verify != (err != nil) {
			t.Errorf("verify %v, presence only: err = %v", verify, err)
		}
		if err != nil && !errors.Is(err, login.ErrPasskeyInvalid) {
			t.Errorf("err = %v, want ErrPasskeyInvalid", err)
		}
	}
}
