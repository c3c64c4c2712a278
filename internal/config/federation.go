package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/atrium-id/atrium/federation"
)

// Federation lists the upstream identity providers of the login page.
type Federation struct {
	Providers []Provider `yaml:"providers"`
}

// Provider is one upstream identity provider: federation.Config's keys
// (id, type, client_id, client_secret, issuer, scopes, claim_mapping,
// trust_email, ...) plus files that may hold its secrets instead.
type Provider struct {
	federation.Config `yaml:",inline"`
	// ClientSecretFile names a file holding client_secret.
	ClientSecretFile string `yaml:"client_secret_file"`
	// PrivateKeyFile names a file holding private_key (Apple's PEM key).
	PrivateKeyFile string `yaml:"private_key_file"`
}

// FederationConfigs returns the providers' configurations with the
// secrets of client_secret_file and private_key_file read in. It does not
// validate them; Validate does.
func (c *Config) FederationConfigs() ([]federation.Config, error) {
	out := make([]federation.Config, 0, len(c.Federation.Providers))
	for i, p := range c.Federation.Providers {
		cfg := p.Config
		for _, f := range []struct {
			key, file string
			dst       *string
		}{
			{"client_secret", p.ClientSecretFile, &cfg.ClientSecret},
			{"private_key", p.PrivateKeyFile, &cfg.PrivateKey},
		} {
			if f.file == "" {
				continue
			}
			path := c.providerKey(i) + "." + f.key + "_file"
			if *f.dst != "" {
				return nil, fmt.Errorf("%s: set either %s or %s_file, not both", path, f.key, f.key)
			}
			b, err := os.ReadFile(f.file)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			*f.dst = strings.TrimSpace(string(b))
		}
		out = append(out, cfg)
	}
	return out, nil
}

func (c *Config) validateFederation() []error {
	cfgs, err := c.FederationConfigs()
	if err != nil {
		return []error{err}
	}
	var errs []error
	seen := map[string]bool{}
	for i, cfg := range cfgs {
		path := c.providerKey(i)
		if err := cfg.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
		if cfg.ID != "" && seen[cfg.ID] {
			errs = append(errs, fmt.Errorf("%s: id: %q is declared twice", path, cfg.ID))
		}
		seen[cfg.ID] = true
	}
	return errs
}

// providerKey names the i-th provider in messages, with the variable that
// set the list if any.
func (c *Config) providerKey(i int) string {
	k := fmt.Sprintf("federation.providers[%d]", i)
	if env, ok := c.from["federation.providers"]; ok {
		k += " (from " + env + ")"
	}
	return k
}
