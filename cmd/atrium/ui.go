package main

import (
	"fmt"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/authz"
	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/internal/page"
)

// parsePages parses the provider's and the account area's templates with
// the ui section's branding and override folder. An override that does
// not parse is an error naming its file.
func parsePages(cfg *config.Config) (authzPages, accountPages *page.Set, err error) {
	theme := page.Theme{
		Name:            cfg.UI.Name,
		LogoURL:         cfg.UI.LogoURL,
		PrimaryColor:    cfg.UI.PrimaryColor,
		BackgroundColor: cfg.UI.BackgroundColor,
		Dir:             cfg.UI.TemplatesDir,
	}
	if authzPages, err = authz.ParsePages(theme); err != nil {
		return nil, nil, fmt.Errorf("ui: %w", err)
	}
	if accountPages, err = account.ParsePages(theme); err != nil {
		return nil, nil, fmt.Errorf("ui: %w", err)
	}
	return authzPages, accountPages, nil
}
