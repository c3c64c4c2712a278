package keys

import (
	"context"
	"crypto"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// ID tokens made by fosite's own OpenID strategy over the Signer verify at
// a relying party, and the strategy accepts our tokens as id_token_hint,
// expired ones included.
func TestFositeIDTokenStrategy(t *testing.T) {
	tests := []struct {
		name      string
		alg       string
		hintAge   time.Duration
		hintSub   string
		wantError bool
	}{
		{"RS256 fresh hint", RS256, 0, "user-1", false},
		{"ES256 expired hint", ES256, 3 * time.Hour, "user-1", false},
		{"EdDSA fresh hint", EdDSA, 0, "user-1", false},
		{"RS256 hint for another subject", RS256, 0, "user-2", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m := ensured(t, tt.alg, newClock())
			strategy := &openid.DefaultStrategy{Signer: m.Signer(), Config: &fosite.Config{IDTokenIssuer: issuer, IDTokenLifespan: time.Hour}}

			hintClaims := idClaims(time.Now().Add(-tt.hintAge))
			hintClaims["sub"] = tt.hintSub
			hint := mint(t, m, hintClaims)

			now := time.Now().UTC()
			req := fosite.NewAccessRequest(&openid.DefaultSession{
				Claims:  &jwt.IDTokenClaims{Subject: "user-1", AuthTime: now, RequestedAt: now, Nonce: "n-0S6_WzA2Mj"},
				Headers: &jwt.Headers{},
			})
			req.Client = &fosite.DefaultClient{ID: "client-1"}
			req.Form.Set("id_token_hint", hint)
			token, err := strategy.GenerateIDToken(ctx, time.Hour, req)
			if tt.wantError {
				if err == nil {
					t.Fatal("GenerateIDToken accepted a hint for another subject")
				}
				return
			}
			if err != nil {
				t.Fatalf("GenerateIDToken: %v", err)
			}

			set := fetchJWKS(t, m)
			var pubs []crypto.PublicKey
			for _, k := range set.Keys {
				pubs = append(pubs, k.Key)
			}
			v := oidc.NewVerifier(issuer, &oidc.StaticKeySet{PublicKeys: pubs}, &oidc.Config{ClientID: "client-1", SupportedSigningAlgs: []string{tt.alg}})
			idt, err := v.Verify(ctx, token)
			if err != nil {
				t.Fatalf("go-oidc verify: %v", err)
			}
			if idt.Subject != "user-1" || idt.Nonce != "n-0S6_WzA2Mj" {
				t.Errorf("sub %q nonce %q", idt.Subject, idt.Nonce)
			}
			if kid := decodeSegment(t, token, 0)["kid"]; kid != set.Keys[0].KeyID {
				t.Errorf("kid %v, JWKS %s", kid, set.Keys[0].KeyID)
			}
		})
	}
}
