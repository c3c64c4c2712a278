package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPARConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		want       PAR
		err        string
	}{
		{name: "default", want: PAR{}},
		{name: "set", yaml: "par:\n  required: true\n  lifespan: 90s\n", want: PAR{Required: true, Lifespan: Duration{D: 90 * time.Second, raw: "90s"}}},
		{name: "from the environment", env: map[string]string{"ATRIUM_PAR_REQUIRED": "true"}, want: PAR{Required: true}},
		{name: "not a duration", yaml: "par:\n  lifespan: soon\n", err: `par.lifespan: "soon" is not a duration`},
		{name: "zero", yaml: "par:\n  lifespan: 0s\n", err: "par.lifespan: 0s is not between 1s and 10m0s"},
		{name: "too long", yaml: "par:\n  lifespan: 1h\n", err: "par.lifespan: 1h0m0s is not between 1s and 10m0s"},
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
			if c.PAR.Required != tc.want.Required || c.PAR.Lifespan.D != tc.want.Lifespan.D {
				t.Fatalf("par = %+v, want %+v", c.PAR, tc.want)
			}
		})
	}
}
