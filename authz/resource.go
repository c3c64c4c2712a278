package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"
)

// Resource indicators (RFC 8707) and protected-resource metadata (RFC 9728).
//
// A resource is one of the operator's APIs, named by an absolute URI. The
// `resource` parameter, at /authorize and /token, maps onto fosite's
// audience: a resource asked for at /authorize is a requested audience,
// granted with the grant and kept with its code and refresh token. At
// /token it narrows the audience (aud) of the access token issued then to
// the resources named, which must lie within the grant (code and refresh
// token) or, for client_credentials, within the client's Audience list.
// The refresh token keeps the grant's whole audience, so a later refresh
// may ask for another of its resources. A resource a client may not ask
// for is invalid_target (RFC 8707 §2); nothing is issued or spent.
//
// Resource URIs compare exactly, as the client's Audience list holds them.
// A client that registered itself (over HTTP or by a metadata document)
// may also ask for the resources marked SelfRegisteredClients.

// Resource is one of the operator's APIs (protected resources).
type Resource struct {
	// URI is the resource identifier: an absolute https (or, on a
	// loopback host, http) URI without a fragment.
	URI string
	// Name is the human-readable resource_name of its metadata.
	Name string
	// Scopes are the scopes the API understands (scopes_supported).
	Scopes []string
	// SelfRegisteredClients lets every client registered over HTTP or
	// identified by a metadata document ask for it (selfRegisteredAudience).
	SelfRegisteredClients bool
}

// selfRegisteredAudience are the URIs of the resources every
// self-registered client may ask for.
func selfRegisteredAudience(rs []Resource) []string {
	var out []string
	for _, r := range rs {
		if r.SelfRegisteredClients {
			out = append(out, r.URI)
		}
	}
	return out
}

// errInvalidTarget is RFC 8707's error for a resource that is malformed or
// that the client may not ask for.
var errInvalidTarget = &fosite.RFC6749Error{
	ErrorField:       "invalid_target",
	DescriptionField: "The requested resource is invalid, unknown, or malformed.",
	CodeField:        http.StatusBadRequest,
}

// checkResourceURI accepts an absolute URI without a fragment (RFC 8707 §2).
func checkResourceURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && !strings.Contains(s, "#") && (u.Host != "" || u.Opaque != "")
}

// requestedResources returns the resource parameters of form, each checked
// for its syntax and against allowed.
func requestedResources(form url.Values, allowed []string) ([]string, error) {
	res := form["resource"]
	for _, r := range res {
		if !checkResourceURI(r) {
			return nil, errInvalidTarget.WithHintf("The resource %q is not an absolute URI without a fragment.", r)
		}
		if !slices.Contains(allowed, r) {
			return nil, errInvalidTarget.WithHintf("The resource %q is not one this client may ask for.", r)
		}
	}
	return res, nil
}

// authorizeResources adds the resources of an authorization request to its
// requested audience, which issue grants and the code keeps.
func (p *Provider) authorizeResources(ar fosite.AuthorizeRequester) error {
	res, err := requestedResources(ar.GetRequestForm(), ar.GetClient().GetAudience())
	if err != nil || len(res) == 0 {
		return err
	}
	ar.SetRequestedAudience(union(ar.GetRequestedAudience(), res))
	return nil
}

// tokenResources applies the resources of a token request. A
// client_credentials request asks for them as its audience; a code or
// refresh token exchange narrows the audience of the access token it
// issues (resourcesKey) to them, and each must be within the grant's.
func (p *Provider) tokenResources(ctx context.Context, ar fosite.AccessRequester) (context.Context, error) {
	form := ar.GetRequestForm()
	if len(form["resource"]) == 0 || ar.GetGrantTypes().ExactOne(grantTokenExchange) {
		// A token exchange has applied them (exchangeAudience).
		return ctx, nil
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		res, err := requestedResources(form, ar.GetClient().GetAudience())
		if err != nil {
			return ctx, err
		}
		ar.SetRequestedAudience(union(ar.GetRequestedAudience(), res))
		return ctx, nil
	}
	// The grant's audience: a code's requested one (issue granted all of
	// it), a refresh token's granted one.
	res, err := requestedResources(form, union(ar.GetRequestedAudience(), ar.GetGrantedAudience()))
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, resourcesKey{}, res), nil
}

type resourcesKey struct{}

// accessAudience is the audience of the access token issued for r: the
// resources the token request named, else the grant's.
func accessAudience(ctx context.Context, r fosite.Requester) []string {
	if res, ok := ctx.Value(resourcesKey{}).([]string); ok {
		return res
	}
	return r.GetGrantedAudience()
}

// narrowedRequest is a request whose granted audience is its access
// token's (accessAudience), for storing that token.
type narrowedRequest struct {
	fosite.Requester
	aud fosite.Arguments
}

func (n narrowedRequest) GetGrantedAudience() fosite.Arguments { return n.aud }

// accessTokenRequest is r as its access token is stored: with the narrowed
// audience, or for a JWT access token without one the audience its JWT
// names. It is r itself otherwise.
func (p *Provider) accessTokenRequest(ctx context.Context, r fosite.Requester) fosite.Requester {
	res, ok := ctx.Value(resourcesKey{}).([]string)
	if !ok && (len(r.GetGrantedAudience()) > 0 || !isJWTClient(r.GetClient())) {
		return r
	}
	if !ok {
		res = p.defaultAudience()
	}
	return narrowedRequest{Requester: r, aud: res}
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// ResourceName is the configured name of the resource uri, "" when it has
// none or is not configured: how the consent screen and the account
// area's Connected apps page name an API to the user.
func (p *Provider) ResourceName(uri string) string {
	for _, r := range p.cfg.Resources {
		if r.URI == uri {
			return r.Name
		}
	}
	return ""
}

// protectedResources lists the configured resource identifiers, for the
// authorization server metadata (RFC 9728 §4).
func (p *Provider) protectedResources() []string {
	out := make([]string, 0, len(p.cfg.Resources))
	for _, r := range p.cfg.Resources {
		out = append(out, r.URI)
	}
	return out
}

// pathResourceMetadata is where RFC 9728 §3.1 puts a resource's metadata:
// this prefix between the resource URI's host and its path.
const pathResourceMetadata = "/.well-known/oauth-protected-resource"

// ResourceMetadata is a resource's protected-resource metadata (RFC 9728
// §2): Atrium as its authorization server, its scopes, bearer tokens in the
// Authorization header.
func ResourceMetadata(issuer string, r Resource) map[string]any {
	doc := map[string]any{
		"resource":                 r.URI,
		"authorization_servers":    []string{strings.TrimSuffix(issuer, "/")},
		"bearer_methods_supported": []string{"header"},
	}
	if len(r.Scopes) > 0 {
		doc["scopes_supported"] = r.Scopes
	}
	if r.Name != "" {
		doc["resource_name"] = r.Name
	}
	return doc
}

// ResourceMetadataURL is the URL RFC 9728 §3.1 derives from a resource
// identifier: the well-known prefix inserted between its host and path.
func ResourceMetadataURL(resource string) (string, error) {
	u, err := url.Parse(resource)
	if err != nil {
		return "", err
	}
	path := u.EscapedPath()
	if path == "/" {
		path = "" // the slash after the host goes
	}
	out := u.Scheme + "://" + u.Host + pathResourceMetadata + path
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out, nil
}

// servedResources maps the metadata path of each configured resource that
// shares the issuer's origin to its document: only there is Atrium's URL
// the one RFC 9728 §3.1 derives from the resource identifier. A resource
// elsewhere publishes its own (atrium resources metadata prints it).
func (p *Provider) servedResources() (map[string][]byte, error) {
	iss, err := url.Parse(p.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, r := range p.cfg.Resources {
		mu, err := ResourceMetadataURL(r.URI)
		if err != nil {
			return nil, err
		}
		u, err := url.Parse(mu)
		if err != nil {
			return nil, err
		}
		if u.Scheme != iss.Scheme || u.Host != iss.Host || u.RawQuery != "" {
			continue
		}
		doc, err := json.Marshal(ResourceMetadata(p.cfg.Issuer, r))
		if err != nil {
			return nil, err
		}
		out[u.Path] = doc
	}
	return out, nil
}

// resourceRoutes serves the protected-resource metadata of servedResources.
func (p *Provider) resourceRoutes(m *http.ServeMux) error {
	docs, err := p.servedResources()
	if err != nil || len(docs) == 0 {
		return err
	}
	serve := func(w http.ResponseWriter, r *http.Request) {
		doc, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		_, _ = w.Write(doc)
	}
	m.HandleFunc("GET "+pathResourceMetadata, serve)
	m.HandleFunc("GET "+pathResourceMetadata+"/", serve)
	return nil
}

// validateResources checks the configured resources.
func validateResources(rs []Resource) error {
	var errs []error
	seen := map[string]bool{}
	for _, r := range rs {
		u, err := url.Parse(r.URI)
		switch {
		case err != nil || !u.IsAbs() || u.Host == "" || strings.Contains(r.URI, "#"):
			errs = append(errs, fmt.Errorf("resource %q is not an absolute URL without a fragment", r.URI))
		case seen[r.URI]:
			errs = append(errs, fmt.Errorf("resource %q is listed twice", r.URI))
		}
		seen[r.URI] = true
	}
	return errors.Join(errs...)
}
