package authz

import (
	"context"
	"net/http"
	"strings"

	"github.com/ory/fosite"
)

// newIntrospectionRequest reads an RFC 7662 introspection request. fosite
// authenticates the caller of its introspection endpoint by a bearer token
// or HTTP Basic only; the discovery document advertises the token
// endpoint's methods for it, so a request without either has its client
// authenticated as at the token endpoint (client_secret_post,
// private_key_jwt), and public clients, which prove nothing, are refused.
func (p *Provider) newIntrospectionRequest(ctx context.Context, r *http.Request, session fosite.Session) (fosite.IntrospectionResponder, error) {
	f, ok := p.oauth.(*fosite.Fosite)
	if _, _, basic := r.BasicAuth(); !ok || basic || fosite.AccessTokenFromRequest(r) != "" {
		return p.oauth.NewIntrospectionRequest(ctx, r, session)
	}
	inactive := &fosite.IntrospectionResponse{Active: false}
	if r.Method != http.MethodPost {
		return inactive, fosite.ErrInvalidRequest.WithHintf("HTTP method is '%s' but expected 'POST'.", r.Method)
	}
	if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
		return inactive, fosite.ErrInvalidRequest.WithHint("Unable to parse HTTP body, make sure to send a properly formatted form request body.").WithWrap(err)
	}
	if len(r.PostForm) == 0 {
		return inactive, fosite.ErrInvalidRequest.WithHint("The POST body can not be empty.")
	}
	ctx = context.WithValue(ctx, fosite.RequestContextKey, r)
	client, err := f.AuthenticateClient(ctx, r, r.PostForm)
	if err != nil {
		return inactive, fosite.ErrRequestUnauthorized.WithHint("The client could not be authenticated.").WithWrap(err)
	}
	if client.IsPublic() {
		return inactive, fosite.ErrRequestUnauthorized.WithHint("A public client cannot introspect tokens.")
	}
	var scopes []string
	if s := r.PostForm.Get("scope"); s != "" {
		scopes = fosite.RemoveEmpty(strings.Split(s, " "))
	}
	tu, ar, err := f.IntrospectToken(ctx, r.PostForm.Get("token"), fosite.TokenUse(r.PostForm.Get("token_type_hint")), session, scopes...)
	if err != nil {
		return inactive, fosite.ErrInactiveToken.WithHint("An introspection strategy indicated that the token is inactive.").WithWrap(err)
	}
	resp := &fosite.IntrospectionResponse{Active: true, AccessRequester: ar, TokenUse: tu}
	if tu == fosite.AccessToken {
		resp.AccessTokenType = fosite.BearerAccessToken
	}
	return resp, nil
}
