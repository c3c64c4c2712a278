package federation

import (
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// base holds what every connector shares.
type base struct {
	cfg     Config
	label   string
	client  *http.Client
	mapping map[string]string
	mode    string
	now     func() time.Time
}

func newBase(cfg Config, client *http.Client, name string, mapping map[string]string) base {
	label := cfg.Label
	if label == "" {
		label = "Continue with " + name
	}
	return base{
		cfg:     cfg,
		label:   label,
		client:  upstreamClient(client),
		mapping: mergeMapping(mapping, cfg.ClaimMapping),
		mode:    ResponseModeQuery,
		now:     time.Now,
	}
}

func (b *base) ID() string           { return b.cfg.ID }
func (b *base) Label() string        { return b.label }
func (b *base) Logo() string         { return b.cfg.Logo }
func (b *base) ResponseMode() string { return b.mode }

func (b *base) scopes(defaults []string) []string {
	if len(b.cfg.Scopes) > 0 {
		return b.cfg.Scopes
	}
	return defaults
}

func (b *base) checkRequest(req AuthRequest) error {
	if req.State == "" || req.RedirectURI == "" {
		return errorf(ErrConfig, "auth request without state or redirect URI")
	}
	return nil
}

// authOptions are the parameters every flow sends: PKCE and login_hint.
func (b *base) authOptions(req AuthRequest) []oauth2.AuthCodeOption {
	var opts []oauth2.AuthCodeOption
	if !b.cfg.DisablePKCE && req.CodeVerifier != "" {
		opts = append(opts, oauth2.S256ChallengeOption(req.CodeVerifier))
	}
	if req.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", req.LoginHint))
	}
	return opts
}

func (b *base) exchangeOptions(cb Callback) []oauth2.AuthCodeOption {
	if !b.cfg.DisablePKCE && cb.CodeVerifier != "" {
		return []oauth2.AuthCodeOption{oauth2.VerifierOption(cb.CodeVerifier)}
	}
	return nil
}

// code returns the callback's authorization code, or the upstream's error.
func (b *base) code(cb Callback) (string, error) {
	if err := callbackError(cb.Params); err != nil {
		return "", err
	}
	code := cb.Params.Get("code")
	if code == "" {
		return "", errorf(ErrInvalidResponse, "callback without code")
	}
	return code, nil
}

// finish applies the checks common to every provider and attaches the raw
// claims and tokens.
func (b *base) finish(id *Identity, c claims, tok *oauth2.Token) (*Identity, error) {
	if id.Subject == "" {
		return nil, errorf(ErrInvalidResponse, "upstream identity has no subject")
	}
	if id.Email == "" {
		id.EmailVerified = false
	}
	if b.cfg.RequireVerifiedEmail && (id.Email == "" || !id.EmailVerified) {
		return nil, errorf(ErrMissingEmail, "no verified email from %s", b.cfg.ID)
	}
	id.Claims = c.json()
	id.Token = tok
	return id, nil
}
