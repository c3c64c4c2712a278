package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/authz"
	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/internal/page"
)

// parsePages parses the provider's and the account area's templates with
// the ui section's branding and override folder. An override that does
// not parse is an error naming its file; a file of the folder that
// replaces no template (a misspelt name) is logged.
func parsePages(cfg *config.Config, log *slog.Logger) (authzPages, accountPages *page.Set, err error) {
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
	if theme.Dir != "" {
		files, err := filepath.Glob(filepath.Join(theme.Dir, "*.html"))
		if err != nil {
			return nil, nil, fmt.Errorf("ui.templates_dir: %w", err)
		}
		for _, f := range files {
			if name := filepath.Base(f); !authzPages.Has(name) && !accountPages.Has(name) {
				log.Warn("ui.templates_dir: file replaces no template and is not used", "file", f)
			}
		}
	}
	return authzPages, accountPages, nil
}
