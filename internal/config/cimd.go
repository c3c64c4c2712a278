package config

import "fmt"

// ClientIDMetadataDocuments lets a client use an https URL as its client
// ID, naming a JSON document of its metadata that the provider fetches
// (OAuth Client ID Metadata Document, the way MCP clients identify
// themselves). Off by default. Zero values take the provider's defaults
// (authz.ClientIDMetadataDocuments).
type ClientIDMetadataDocuments struct {
	Enabled bool `yaml:"enabled"`
	// AllowPrivateNetwork lets documents (and their jwks_uri) be fetched
	// from loopback, private and link-local addresses; for development.
	AllowPrivateNetwork bool `yaml:"allow_private_network"`
	// CacheTTL is how long a document is kept when its response has no
	// Cache-Control max-age (default 5m); MinCacheTTL and MaxCacheTTL
	// bound max-age (defaults 1m and 24h); FailureCacheTTL is how long a
	// failed fetch is remembered, so a bad URL is not fetched on every
	// request (default 30s).
	CacheTTL        Duration `yaml:"cache_ttl"`
	MinCacheTTL     Duration `yaml:"min_cache_ttl"`
	MaxCacheTTL     Duration `yaml:"max_cache_ttl"`
	FailureCacheTTL Duration `yaml:"failure_cache_ttl"`
	// MaxBytes is the largest document accepted (default 5120).
	MaxBytes int64 `yaml:"max_bytes"`
	// Timeout bounds one fetch (default 5s).
	Timeout Duration `yaml:"timeout"`
}

// maxCIMDBytes bounds client_id_metadata_documents.max_bytes: a document
// is a few hundred bytes.
const maxCIMDBytes = 1 << 20

func (c *Config) validateCIMD() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{c.key(path)}, args...)...))
	}
	m := c.ClientIDMetadataDocuments
	for _, d := range []struct {
		path string
		d    Duration
	}{
		{"client_id_metadata_documents.cache_ttl", m.CacheTTL},
		{"client_id_metadata_documents.min_cache_ttl", m.MinCacheTTL},
		{"client_id_metadata_documents.max_cache_ttl", m.MaxCacheTTL},
		{"client_id_metadata_documents.failure_cache_ttl", m.FailureCacheTTL},
		{"client_id_metadata_documents.timeout", m.Timeout},
	} {
		switch {
		case d.d.raw == "":
		case d.d.bad:
			bad(d.path, "%q is not a duration (use Go syntax such as 90s, 15m, 1h)", d.d.raw)
		case d.d.D <= 0:
			bad(d.path, "must be positive, got %s", d.d.D)
		}
	}
	if m.MinCacheTTL.D > 0 && m.MaxCacheTTL.D > 0 && m.MinCacheTTL.D > m.MaxCacheTTL.D {
		bad("client_id_metadata_documents.min_cache_ttl", "%s is longer than max_cache_ttl (%s)", m.MinCacheTTL.D, m.MaxCacheTTL.D)
	}
	if m.MaxBytes < 0 || m.MaxBytes > maxCIMDBytes {
		bad("client_id_metadata_documents.max_bytes", "must be between 1 and %d (0 for the default, 5120), got %d", maxCIMDBytes, m.MaxBytes)
	}
	return errs
}
