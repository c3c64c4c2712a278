package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDPoPConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		want       DPoP
		err        string
	}{
		{name: "default", want: DPoP{}},
		{name: "set", yaml: "dpop:\n  require_nonce: true\n", want: DPoP{RequireNonce: true}},
		{name: "from the environment", env: map[string]string{"ATRIUM_DPOP_REQUIRE_NONCE": "true"}, want: DPoP{RequireNonce: true}},
		{name: "not a boolean", env: map[string]string{"ATRIUM_DPOP_REQUIRE_NONCE": "sometimes"}, err: "ATRIUM_DPOP_REQUIRE_NONCE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "atrium.yaml")
			if err := os.WriteFile(path, []byte("issuer: https://id.example.com\nmaster_secret: "+strings.Repeat("k", 32)+"\n"+tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := load(t, path, envOf(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.DPoP != tc.want {
				t.Fatalf("DPoP = %+v, want %+v", c.DPoP, tc.want)
			}
		})
	}
}
