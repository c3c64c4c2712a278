package config

// DPoP configures DPoP, sender-constrained tokens (RFC 9449).
type DPoP struct {
	// RequireNonce makes every DPoP proof carry a nonce the server issued
	// (DPoP-Nonce header); default false.
	RequireNonce bool `yaml:"require_nonce"`
}
