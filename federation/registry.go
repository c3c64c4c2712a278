package federation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// New builds the connector for one provider. It validates cfg but makes no
// upstream request: OpenID Connect discovery happens on first use, so a
// provider that is down does not stop Atrium starting. client (nil: one with
// DefaultTimeout) makes every upstream request; response bodies are capped
// at 1 MiB.
func New(ctx context.Context, cfg Config, client *http.Client) (Connector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, newError(ErrConfig, "", err)
	}
	name := func(n string) base { return newBase(cfg, client, n, standardMapping) }
	switch cfg.Type {
	case TypeOIDC:
		return newGenericOIDC(name(cfg.ID)), nil
	case TypeOAuth2:
		return newGenericOAuth2(name(cfg.ID)), nil
	case TypeGoogle:
		return newGoogle(name("Google")), nil
	case TypeMicrosoft:
		return newMicrosoft(name("Microsoft")), nil
	case TypeApple:
		key, err := parseAppleKey(cfg.PrivateKey)
		if err != nil { // Validate parsed it already
			return nil, newError(ErrConfig, "private_key", err)
		}
		return newApple(name("Apple"), key), nil
	case TypeGitHub:
		return newGitHub(name("GitHub")), nil
	case TypeGitLab:
		return newGitLab(name("GitLab")), nil
	case TypeFacebook:
		return newFacebook(name("Facebook")), nil
	case TypeLinkedIn:
		return newLinkedIn(name("LinkedIn")), nil
	}
	return nil, errorf(ErrConfig, "unknown type %q", cfg.Type) // Validate rejects it first
}

// Registry holds the configured connectors, in configuration order.
type Registry struct {
	list    []Connector
	byID    map[string]Connector
	configs map[string]Config
}

// NewRegistry builds every connector, reporting all configuration errors
// at once; provider IDs must be unique.
func NewRegistry(ctx context.Context, cfgs []Config, client *http.Client) (*Registry, error) {
	r := &Registry{byID: map[string]Connector{}, configs: map[string]Config{}}
	var errs []error
	seen := map[string]bool{}
	for i, cfg := range cfgs {
		if seen[cfg.ID] {
			errs = append(errs, fmt.Errorf("federation provider %q: id: used twice (entry %d)", cfg.ID, i))
			continue
		}
		seen[cfg.ID] = true
		c, err := New(ctx, cfg, client)
		if err != nil {
			var fe *Error
			if errors.As(err, &fe) && fe.Err != nil {
				err = fe.Err
			}
			errs = append(errs, err)
			continue
		}
		r.list = append(r.list, c)
		r.byID[cfg.ID] = c
		r.configs[cfg.ID] = cfg
	}
	if err := errors.Join(errs...); err != nil {
		return nil, newError(ErrConfig, "", err)
	}
	return r, nil
}

// Get returns the connector with this provider ID.
func (r *Registry) Get(id string) (Connector, bool) {
	c, ok := r.byID[id]
	return c, ok
}

// List returns the connectors in configuration order, for the login page.
func (r *Registry) List() []Connector {
	return append([]Connector(nil), r.list...)
}

// Config returns the provider's configuration, for the linking policy
// (TrustEmail, UpdateProfile, StoreTokens) that the caller applies.
func (r *Registry) Config(id string) (Config, bool) {
	c, ok := r.configs[id]
	return c, ok
}
