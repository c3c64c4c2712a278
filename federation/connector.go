package federation

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// Identity is an upstream user as Atrium sees it, whatever the provider.
type Identity struct {
	// Provider is the configured provider ID (Config.ID).
	Provider string
	// Subject is the upstream's stable user ID; with Provider it is the
	// key of the linked identity. Never empty.
	Subject string

	Email         string
	EmailVerified bool
	Name          string
	GivenName     string
	FamilyName    string
	Nickname      string
	Picture       string
	Locale        string

	// Claims is the upstream's raw claims and profile merged into one JSON
	// object (ID token claims, then userinfo or API profile fields), kept
	// with the linked identity.
	Claims json.RawMessage
	// Token holds the upstream tokens, for callers that store them
	// (Config.StoreTokens). Never logged here.
	Token *oauth2.Token
}

// AuthRequest is what the caller generated for one interaction. The
// connector only uses it; the caller stores State, Nonce and CodeVerifier
// with the interaction and hands Nonce and CodeVerifier back in Callback.
type AuthRequest struct {
	State string
	// Nonce is sent to OpenID Connect upstreams and checked in the ID token.
	Nonce string
	// CodeVerifier is the PKCE verifier (RFC 7636, 43 to 128 characters);
	// the connector sends its S256 challenge.
	CodeVerifier string
	// RedirectURI is Atrium's callback URL for this provider.
	RedirectURI string
	// LoginHint is passed on as login_hint where the upstream takes one.
	LoginHint string
}

// Callback is the upstream's answer on Atrium's callback URL.
type Callback struct {
	// Params is the callback's query (GET) or form (POST, when the
	// connector's ResponseMode is "form_post"), already parsed.
	Params url.Values
	// Nonce, CodeVerifier and RedirectURI are those of the AuthRequest.
	Nonce        string
	CodeVerifier string
	RedirectURI  string
}

// Response modes: how the upstream returns to the callback URL.
const (
	ResponseModeQuery    = "query"     // GET with a query string
	ResponseModeFormPost = "form_post" // POST with a form body
)

// Connector is one configured upstream provider.
//
// The caller checks the callback's state parameter against the one it
// stored before calling Exchange; connectors do not see or check state on
// the way back. All errors are *Error.
type Connector interface {
	// ID is the configured provider ID.
	ID() string
	// Label is the sign-in button's text, such as "Continue with GitHub".
	Label() string
	// Logo is the button's logo URL, or empty.
	Logo() string
	// ResponseMode is ResponseModeQuery or ResponseModeFormPost.
	ResponseMode() string
	// AuthCodeURL is the upstream authorization URL to redirect the user to.
	AuthCodeURL(ctx context.Context, req AuthRequest) (string, error)
	// Exchange checks the callback for an upstream error, redeems the code,
	// verifies what came back and returns the normalized identity.
	Exchange(ctx context.Context, cb Callback) (*Identity, error)
}

// Name is the provider's name for sentences ("GitHub"): its label without
// "Continue with ", or its ID when the label is custom.
func Name(c Connector) string {
	if name, ok := strings.CutPrefix(c.Label(), "Continue with "); ok && name != "" {
		return name
	}
	return c.ID()
}
