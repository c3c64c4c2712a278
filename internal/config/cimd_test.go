package config

import (
	"strings"
	"testing"
	"time"
)

func TestCIMDConfig(t *testing.T) {
	c, err := loadYAML(t, `
client_id_metadata_documents:
  enabled: true
  allow_private_network: true
  cache_ttl: 10m
  min_cache_ttl: 30s
  max_cache_ttl: 2h
  failure_cache_ttl: 10s
  max_bytes: 8192
  timeout: 2s
`)
	if err != nil {
		t.Fatal(err)
	}
	m := c.ClientIDMetadataDocuments
	if !m.Enabled || !m.AllowPrivateNetwork || m.CacheTTL.D != 10*time.Minute || m.MinCacheTTL.D != 30*time.Second ||
		m.MaxCacheTTL.D != 2*time.Hour || m.FailureCacheTTL.D != 10*time.Second || m.MaxBytes != 8192 || m.Timeout.D != 2*time.Second {
		t.Errorf("client_id_metadata_documents = %+v", m)
	}
	c, err = loadYAML(t, "issuer: https://id.example.com\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientIDMetadataDocuments.Enabled {
		t.Error("client ID metadata documents are on without the key")
	}
}

func TestBadCIMDConfigs(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"bad duration", "cache_ttl: soon", `client_id_metadata_documents.cache_ttl: "soon" is not a duration`},
		{"negative timeout", "timeout: -1s", "client_id_metadata_documents.timeout: must be positive"},
		{"zero failure ttl", "failure_cache_ttl: 0s", "client_id_metadata_documents.failure_cache_ttl: must be positive"},
		{"min above max", "min_cache_ttl: 2h\n  max_cache_ttl: 1h", "client_id_metadata_documents.min_cache_ttl: 2h0m0s is longer than max_cache_ttl"},
		{"negative size", "max_bytes: -1", "client_id_metadata_documents.max_bytes: must be between 1 and"},
		{"huge size", "max_bytes: 100000000", "client_id_metadata_documents.max_bytes: must be between 1 and"},
		{"unknown key", "enable: true", "client_id_metadata_documents.enable: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, "client_id_metadata_documents:\n  "+tc.doc+"\n")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\ndoes not contain %q", err, tc.want)
			}
		})
	}
}
