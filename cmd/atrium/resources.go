package main

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/atrium-id/atrium/authz"
)

// resourceMetadataView is a resource's protected-resource metadata (RFC
// 9728) and the URL it belongs at.
type resourceMetadataView struct {
	// URL is where RFC 9728 §3.1 puts the document: on the resource's
	// own host. ServedByAtrium is true when that URL is Atrium's (the
	// resource is on the issuer's origin); otherwise the API publishes
	// Document there itself.
	URL            string         `json:"url"`
	ServedByAtrium bool           `json:"served_by_atrium"`
	Document       map[string]any `json:"document"`
}

func (c *cli) resourcesMetadata(args []string) error {
	var com common
	fs := c.flagSet("resources metadata", "Prints the protected-resource metadata (RFC 9728) of the configured resources, each with the URL it belongs at, for APIs that publish it themselves.", &com)
	uri := fs.String("uri", "", "only the resource with this `URI`")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.load(&com, nil, false)
	if err != nil {
		return err
	}
	if cfg.Issuer == "" {
		return errors.New("resources metadata: the issuer is not configured")
	}
	iss, err := url.Parse(cfg.Issuer)
	if err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	out := []resourceMetadataView{}
	for _, r := range authzResources(cfg.Resources) {
		if *uri != "" && r.URI != *uri {
			continue
		}
		mu, err := authz.ResourceMetadataURL(r.URI)
		if err != nil {
			return fmt.Errorf("resource %q: %w", r.URI, err)
		}
		u, err := url.Parse(mu)
		if err != nil {
			return fmt.Errorf("resource %q: %w", r.URI, err)
		}
		out = append(out, resourceMetadataView{
			URL:            mu,
			ServedByAtrium: u.Scheme == iss.Scheme && u.Host == iss.Host && u.RawQuery == "",
			Document:       authz.ResourceMetadata(cfg.Issuer, r),
		})
	}
	if *uri != "" && len(out) == 0 {
		return fmt.Errorf("--uri: %q is not one of the resources", *uri)
	}
	return printJSON(c.stdout, out)
}
