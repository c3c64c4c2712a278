package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// binary is data that survives only a byte-exact column: NUL, invalid
// UTF-8 and every high bit.
var binary = []byte{0x00, 0xff, 0xfe, 'a', 0x00, 0x80, 0xc3, 0x28, '\n', 0x7f}

func fullClient(id string, now time.Time) *storage.Client {
	return &storage.Client{
		ID:                                id,
		SecretHash:                        append([]byte{0x01, 0x00, 0xfe}, []byte(id)...),
		Name:                              "Zoë's app 日本 " + id,
		RedirectURIs:                      []string{"https://rp.example/cb", "https://rp.example/cb?x=1&y=é", "http://127.0.0.1:8080/cb"},
		PostLogoutRedirectURIs:            []string{"https://rp.example/bye"},
		GrantTypes:                        []string{"authorization_code", "refresh_token"},
		ResponseTypes:                     []string{"code"},
		Scopes:                            []string{"openid", "profile", "email", "offline_access"},
		Audience:                          []string{"https://api.example"},
		Public:                            false,
		TokenEndpointAuthMethod:           "private_key_jwt",
		JWKS:                              []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1"}]}`),
		JWKSURI:                           "https://rp.example/jwks.json",
		IDTokenSignedResponseAlg:          "ES256",
		LogoURI:                           "https://rp.example/logo.png",
		PolicyURI:                         "https://rp.example/privacy",
		TOSURI:                            "https://rp.example/tos",
		FirstParty:                        true,
		Contacts:                          []string{"ops@rp.example", "zoë@rp.example"},
		UserinfoSignedResponseAlg:         "RS256",
		RequestObjectSigningAlg:           "ES256",
		RequestURIs:                       []string{"https://rp.example/req#a1", "https://rp.example/req2"},
		FrontchannelLogoutURI:             "https://rp.example/fc-logout",
		FrontchannelLogoutSessionRequired: true,
		BackchannelLogoutURI:              "https://rp.example/bc-logout",
		BackchannelLogoutSessionRequired:  true,
		DefaultMaxAge:                     3600,
		RequireAuthTime:                   true,
		AccessTokenFormat:                 "jwt",
		DPoPBoundAccessTokens:             true,
		SoftwareID:                        "4NRB1-0XZABZI9E6-5SM3R",
		SoftwareVersion:                   "2.1 β",
		Registration:                      "dynamic",
		ApplicationType:                   "native",
		ClientURI:                         "https://rp.example/",
		SubjectType:                       "pairwise",
		SectorIdentifierURI:               "https://rp.example/sector.json",
		Sector:                            "rp.example",
		RegistrationAccessTokenHash:       append([]byte{0xff, 0x00, 0x7f}, []byte(id)...),
		ClientSecretExpiresAt:             now.Add(90 * 24 * time.Hour),
		CreatedAt:                         now,
		UpdatedAt:                         now.Add(time.Second),
	}
}

func fullUser(id, email string, now time.Time) *storage.User {
	return &storage.User{
		ID:                  id,
		Email:               email,
		EmailVerified:       true,
		Name:                "Ada Lovelace " + id,
		GivenName:           "Ada",
		FamilyName:          "Lovelace",
		Nickname:            "ada",
		Picture:             "https://img.example/ada.png",
		Locale:              "en-GB",
		Zoneinfo:            "Europe/London",
		PhoneNumber:         "+44 20 7946 0000",
		PhoneNumberVerified: true,
		Address: storage.Address{
			Formatted:     "12 St James's Square\nLondon",
			StreetAddress: "12 St James's Square",
			Locality:      "London",
			Region:        "Greater London",
			PostalCode:    "SW1Y 4LB",
			Country:       "GB",
		},
		Disabled:  false,
		CreatedAt: now,
		UpdatedAt: now.Add(time.Second),
		Attributes: map[string]any{
			"loyalty_id": "L-" + id,
			"newsletter": true,
			"shoe_size":  42.5,
		},
	}
}

func fullCredential(id, userID, typ string, now time.Time) *storage.Credential {
	return &storage.Credential{
		ID:        id,
		UserID:    userID,
		Type:      typ,
		Secret:    append([]byte("$argon2id$v=19$m=65536,t=3,p=4$"+id+"$"), binary...),
		CreatedAt: now,
		UpdatedAt: now.Add(time.Second),
	}
}

func fullIdentity(id, userID, provider, subject string, now time.Time) *storage.Identity {
	return &storage.Identity{
		ID:        id,
		UserID:    userID,
		Provider:  provider,
		Subject:   subject,
		Email:     subject + "@upstream.example",
		Claims:    []byte(`{"sub":"` + subject + `","email_verified":true,"groups":["a","b"],"n":1.5}`),
		Tokens:    append([]byte{1, 0, 0xff}, subject...),
		CreatedAt: now,
		UpdatedAt: now.Add(time.Second),
	}
}

func fullConsent(userID, clientID string, now time.Time) *storage.Consent {
	return &storage.Consent{
		UserID:        userID,
		ClientID:      clientID,
		Scopes:        []string{"openid", "profile", "email"},
		Declined:      []string{"phone", "address"},
		Resources:     []string{"https://api.example.com/orders", "https://mcp.example.com/mcp"},
		PolicyVersion: "2031-01",
		CreatedAt:     now,
		UpdatedAt:     now.Add(time.Second),
	}
}

func fullKey(id string, now time.Time) *storage.SigningKey {
	return &storage.SigningKey{
		ID:         id,
		Algorithm:  "EdDSA",
		PrivateKey: append([]byte("sealed:"+id+":"), binary...),
		PublicJWK:  []byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"` + id + `","use":"sig","alg":"EdDSA"}`),
		Status:     storage.KeyActive,
		CreatedAt:  now,
	}
}

func fullSession(id, userID string, now time.Time) *storage.Session {
	return &storage.Session{
		ID:        id,
		UserID:    userID,
		AuthTime:  now.Add(-time.Minute),
		AMR:       []string{"pwd", "otp"},
		ACR:       "urn:atrium:acr:mfa",
		CreatedAt: now,
		ExpiresAt: now.Add(24 * time.Hour),
		Clients:   []string{"client-b", "client-a"},
	}
}

func fullInteraction(id string, now time.Time) *storage.Interaction {
	return &storage.Interaction{
		ID:        id,
		Data:      append([]byte(`{"state":"`+id+`"}`), binary...),
		ExpiresAt: now.Add(15 * time.Minute),
	}
}

func fullToken(kind storage.TokenKind, signature, requestID string, now time.Time) *storage.Token {
	return &storage.Token{
		Kind:            kind,
		Signature:       signature,
		RequestID:       requestID,
		ClientID:        "client-1",
		Subject:         "user-1",
		SessionID:       "session-1",
		Active:          true,
		AccessSignature: "access-of-" + signature,
		Data:            append([]byte(`{"kind":"`+string(kind)+`"}`), binary...),
		CreatedAt:       now,
		ExpiresAt:       now.Add(time.Hour),
	}
}

// seedUser creates a user with a default record, for the stores that hang
// records off a user.
func seedUser(t *testing.T, s Store, id string, now time.Time) *storage.User {
	t.Helper()
	u := fullUser(id, id+"@example.com", now)
	must(t, s.CreateUser(t.Context(), u), "CreateUser(%q)", id)
	return u
}

// seedClient creates a client with a default record.
func seedClient(t *testing.T, s Store, id string, now time.Time) *storage.Client {
	t.Helper()
	c := fullClient(id, now)
	must(t, s.CreateClient(t.Context(), c), "CreateClient(%q)", id)
	return c
}

// clone copies a record so the test's copy is not shared with the store.
func clone[T any](v *T) *T {
	c := *v
	return &c
}

// walk pages through a listing with limit per page and returns every ID in
// the order listed; it fails t when a page is longer than limit, when a
// page other than the last is short, or when the cursor does not advance.
func walk(t *testing.T, what string, limit int, list func(ctx context.Context, p storage.Page) ([]string, string, error)) []string {
	t.Helper()
	var all []string
	after := ""
	for page := 1; ; page++ {
		if page > 1000 {
			t.Fatalf("%s: still listing after 1000 pages, want the cursor to reach \"\"", what)
		}
		got, next, err := list(t.Context(), storage.Page{After: after, Limit: limit})
		must(t, err, "%s page %d (After %q, Limit %d)", what, page, after, limit)
		if len(got) > limit {
			t.Fatalf("%s page %d returned %d records, want at most Limit %d", what, page, len(got), limit)
		}
		all = append(all, got...)
		if next == "" {
			return all
		}
		if len(got) < limit {
			t.Fatalf("%s page %d returned %d records with next cursor %q, want a full page of %d before a non-empty cursor", what, page, len(got), next, limit)
		}
		if next == after {
			t.Fatalf("%s page %d returned the same cursor %q it was given, want it to advance", what, page, next)
		}
		after = next
	}
}

func pad(prefix string, i int) string { return fmt.Sprintf("%s%03d", prefix, i) }
