package config

import (
	"slices"
	"strings"
	"testing"
)

func TestWebAuthnDefaultsAndChecks(t *testing.T) {
	for _, tc := range []struct {
		name        string
		yaml        string
		env         map[string]string
		wantRPID    string
		wantOrigins []string
		wantErr     string
	}{
		{name: "from the issuer", yaml: "issuer: https://id.example.com\n",
			wantRPID: "id.example.com", wantOrigins: []string{"https://id.example.com"}},
		{name: "localhost with a port", yaml: "issuer: http://localhost:8080\n",
			wantRPID: "localhost", wantOrigins: []string{"http://localhost:8080"}},
		{name: "off on an IP address", yaml: "issuer: http://127.0.0.1:8080\n"},
		{name: "parent domain", yaml: "issuer: https://id.example.com\nwebauthn:\n  rp_id: example.com\n  origins: [https://id.example.com, https://www.example.com]\n",
			wantRPID: "example.com", wantOrigins: []string{"https://id.example.com", "https://www.example.com"}},
		{name: "from the environment", yaml: "issuer: https://id.example.com\n",
			env:      map[string]string{"ATRIUM_WEBAUTHN_ORIGINS": "[https://login.id.example.com]"},
			wantRPID: "id.example.com", wantOrigins: []string{"https://login.id.example.com"}},
		{name: "ip rp_id", yaml: "issuer: http://127.0.0.1:8080\nwebauthn:\n  rp_id: 127.0.0.1\n",
			wantErr: `webauthn.rp_id: "127.0.0.1" must be a host name`},
		{name: "origin off the rp_id", yaml: "issuer: https://id.example.com\nwebauthn:\n  origins: [https://evil.example.net]\n",
			wantErr: `webauthn.origins[0]: "https://evil.example.net" is not on webauthn.rp_id "id.example.com"`},
		{name: "origin with a path", yaml: "issuer: https://id.example.com\nwebauthn:\n  origins: [https://id.example.com/login]\n",
			wantErr: `webauthn.origins[0]: "https://id.example.com/login" is not an origin`},
		{name: "http off localhost", yaml: "issuer: https://id.example.com\nwebauthn:\n  origins: [http://id.example.com]\n",
			wantErr: `webauthn.origins[0]: "http://id.example.com": browsers allow passkeys over http only on localhost`},
		{name: "long rp_name", yaml: "issuer: https://id.example.com\nwebauthn:\n  rp_name: " + strings.Repeat("n", 65) + "\n",
			wantErr: "webauthn.rp_name: 65 bytes; at most 64"},
		{name: "rp_name with a newline", yaml: "issuer: https://id.example.com\nwebauthn:\n  rp_name: \"Example\\nBank\"\n",
			wantErr: `webauthn.rp_name: "Example\nBank" has a control character`},
		{name: "blank rp_name", yaml: "issuer: https://id.example.com\nwebauthn:\n  rp_name: \"  \"\n",
			wantErr: "webauthn.rp_name: is blank"},
		{name: "origins without rp_id", yaml: "issuer: http://127.0.0.1:8080\nwebauthn:\n  origins: [http://localhost:8080]\n",
			wantErr: "webauthn.origins: set, but passkeys are off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{}
			if err := Parse([]byte(tc.yaml+"master_secret: 0123456789abcdef0123456789abcdef\n"), c); err != nil {
				t.Fatal(err)
			}
			if err := c.applyEnv(envOf(tc.env)); err != nil {
				t.Fatal(err)
			}
			c.SetDefaults()
			err := c.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rpID, rpName, origins := c.Passkeys()
			if rpID != tc.wantRPID || rpName != "Atrium" || !slices.Equal(origins, tc.wantOrigins) {
				t.Errorf("Passkeys() = %q, %q, %v; want %q, Atrium, %v", rpID, rpName, origins, tc.wantRPID, tc.wantOrigins)
			}
		})
	}
}
