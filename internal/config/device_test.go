package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDeviceConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		enabled    bool
		lifespan   time.Duration
		interval   time.Duration
		err        string
	}{
		{name: "default"},
		{name: "set", yaml: "device:\n  enabled: true\n  lifespan: 15m\n  interval: 10s\n", enabled: true, lifespan: 15 * time.Minute, interval: 10 * time.Second},
		{name: "from the environment", env: map[string]string{"ATRIUM_DEVICE_ENABLED": "true", "ATRIUM_DEVICE_INTERVAL": "2s"}, enabled: true, interval: 2 * time.Second},
		{name: "not a duration", yaml: "device:\n  lifespan: soon\n", err: `device.lifespan: "soon" is not a duration`},
		{name: "lifespan too short", yaml: "device:\n  lifespan: 30s\n", err: "device.lifespan: 30s is not between 1m0s and 30m0s"},
		{name: "lifespan too long", yaml: "device:\n  lifespan: 1h\n", err: "device.lifespan: 1h0m0s is not between 1m0s and 30m0s"},
		{name: "interval zero", yaml: "device:\n  interval: 0s\n", err: "device.interval: 0s is not between 1s and 1m0s"},
		{name: "interval from the environment too long", env: map[string]string{"ATRIUM_DEVICE_INTERVAL": "2m"}, err: "device.interval (from ATRIUM_DEVICE_INTERVAL): 2m0s is not between 1s and 1m0s"},
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
			if c.Device.Enabled != tc.enabled || c.Device.Lifespan.D != tc.lifespan || c.Device.Interval.D != tc.interval {
				t.Fatalf("device = %+v", c.Device)
			}
		})
	}
}
