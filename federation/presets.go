package federation

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/oauth2"
)

// Preset issuers and endpoints; each can be overridden from Config.
const (
	googleIssuer    = "https://accounts.google.com"
	gitlabIssuer    = "https://gitlab.com"
	linkedinIssuer  = "https://www.linkedin.com/oauth"
	microsoftIssuer = "https://login.microsoftonline.com/%s/v2.0"
)

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// newGeneric builds a "oidc" or "oauth2" connector from Config alone.
func newGenericOIDC(b base) Connector {
	c := newOIDC(b, b.cfg.Issuer)
	switch b.cfg.TokenAuthMethod {
	case AuthClientSecretPost:
		c.authStyle = oauth2.AuthStyleInParams
	case "":
		c.discoverAuthStyle = true
	}
	return c
}

func newGenericOAuth2(b base) Connector {
	ep := oauth2.Endpoint{AuthURL: b.cfg.AuthURL, TokenURL: b.cfg.TokenURL, AuthStyle: authStyle(b.cfg.TokenAuthMethod)}
	return newOAuth2(b, ep, b.cfg.UserinfoURL, nil)
}

// authStyle is the x/oauth2 style of a TokenAuthMethod, basic by default.
// Never AuthStyleAutoDetect: it retries a failed token request (a
// timeout too) with the credentials moved, doubling the wait.
func authStyle(method string) oauth2.AuthStyle {
	if method == AuthClientSecretPost {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// newGoogle: OpenID Connect. HostedDomain is sent as hd, which only
// preselects accounts at Google; the ID token's hd claim is what is checked.
func newGoogle(b base) Connector {
	c := newOIDC(b, or(b.cfg.Issuer, googleIssuer))
	if hd := b.cfg.HostedDomain; hd != "" {
		c.authParams.Set("hd", hd)
		c.check = func(cl claims) error {
			if got := cl.str("hd"); !strings.EqualFold(got, hd) {
				return errorf(ErrDenied, "Google account not in hosted domain %q (hd %q)", hd, got)
			}
			return nil
		}
	}
	return c
}

// Microsoft's multi-tenant endpoints; their discovery documents declare an
// issuer with a literal {tenantid}, or (consumers) one fixed tenant.
var microsoftMultiTenant = []string{"common", "organizations", "consumers"}

// newMicrosoft: Microsoft Entra ID (v2.0 endpoints).
//
// For common, organizations and consumers the discovered issuer is a
// template, https://login.microsoftonline.com/{tenantid}/v2.0: discovery
// accepts it, and the ID token's iss must equal the template with
// {tenantid} replaced by the token's own tid claim. For a tenant ID or
// domain, discovery and the token are checked strictly against the
// configured issuer.
//
// Entra's email claim is not verified by Microsoft (any tenant admin can set
// it), so EmailVerified comes from the optional xms_edov claim ("email
// domain owner verified"), which tenants must enable; without it emails are
// unverified. preferred_username becomes the nickname, never the email.
func newMicrosoft(b base) Connector {
	tenant := or(b.cfg.Tenant, "common")
	b.mapping = mergeMapping(mergeMapping(standardMapping, map[string]string{
		"email_verified": "xms_edov",
		"nickname":       "preferred_username",
	}), b.cfg.ClaimMapping)
	c := newOIDC(b, or(b.cfg.Issuer, fmt.Sprintf(microsoftIssuer, tenant)))
	c.noUserinfo = true // Graph's userinfo adds nothing the ID token lacks
	if slices.Contains(microsoftMultiTenant, tenant) {
		c.lenientDiscovery = true
		c.checkIssuer = func(iss string, cl claims, discovered string) error {
			want := discovered
			if strings.Contains(discovered, "{tenantid}") {
				tid := cl.str("tid")
				if tid == "" {
					return fmt.Errorf("no tid claim for issuer template %q", discovered)
				}
				want = strings.ReplaceAll(discovered, "{tenantid}", tid)
			}
			if iss != want {
				return fmt.Errorf("issuer %q does not match %q", iss, want)
			}
			return nil
		}
	}
	return c
}

// newGitLab: OpenID Connect, gitlab.com or a self-hosted issuer.
func newGitLab(b base) Connector {
	return newOIDC(b, or(b.cfg.Issuer, gitlabIssuer))
}

// newLinkedIn: "Sign In with LinkedIn using OpenID Connect".
//
// LinkedIn has changed the issuer its discovery document declares
// (https://www.linkedin.com, then https://www.linkedin.com/oauth), so
// discovery accepts a mismatch and the ID token's iss may be either the
// configured issuer or the one discovered. Its token endpoint takes client
// credentials in the form body only and rejects PKCE parameters from web
// applications, so PKCE is not sent.
func newLinkedIn(b base) Connector {
	b.cfg.DisablePKCE = true
	c := newOIDC(b, or(b.cfg.Issuer, linkedinIssuer))
	c.authStyle = oauth2.AuthStyleInParams
	c.lenientDiscovery = true
	c.checkIssuer = func(iss string, _ claims, discovered string) error {
		if iss != c.issuer && iss != discovered {
			return fmt.Errorf("issuer %q is neither %q nor %q", iss, c.issuer, discovered)
		}
		return nil
	}
	return c
}
