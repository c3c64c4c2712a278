package config

import (
	"strings"
	"testing"
	"time"
)

func TestTrustedProxiesAndAuditRetention(t *testing.T) {
	c, err := load(t, "", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c.TrustedProxyPrefixes(); err != nil || len(p) != 0 {
		t.Errorf("default trusted proxies = %v, %v; want none", p, err)
	}
	if c.Audit.Retention.D != 400*24*time.Hour {
		t.Errorf("default audit.retention = %s, want 400 days", c.Audit.Retention.D)
	}

	c, err = load(t, "", envOf(map[string]string{
		"ATRIUM_TRUSTED_PROXIES": "[10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\"]",
		"ATRIUM_AUDIT_RETENTION": "720h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.TrustedProxyPrefixes()
	if err != nil || len(p) != 3 || p[0].String() != "10.0.0.0/8" || p[1].String() != "192.0.2.7/32" || p[2].String() != "2001:db8::/32" {
		t.Errorf("trusted proxies from the environment = %v, %v; want 10.0.0.0/8, 192.0.2.7/32, 2001:db8::/32", p, err)
	}
	if c.Audit.Retention.D != 720*time.Hour {
		t.Errorf("audit.retention from the environment = %s, want 720h", c.Audit.Retention.D)
	}

	_, err = load(t, "", envOf(map[string]string{"ATRIUM_TRUSTED_PROXIES": "[proxy.internal]", "ATRIUM_AUDIT_RETENTION": "forever"}))
	for _, want := range []string{
		`trusted_proxies (from ATRIUM_TRUSTED_PROXIES): not a CIDR prefix or an IP address: "proxy.internal"`,
		`audit.retention (from ATRIUM_AUDIT_RETENTION): "forever" is not a duration`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad environment: error %v, want it to contain %q", err, want)
		}
	}
}
