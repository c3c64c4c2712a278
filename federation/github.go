package federation

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
)

const (
	githubAuthURL  = "https://github.com/login/oauth/authorize"
	githubTokenURL = "https://github.com/login/oauth/access_token"
	githubAPI      = "https://api.github.com"
)

// newGitHub: GitHub OAuth apps (OAuth 2.0, no ID token).
//
// The profile is GET /user (numeric id as the subject, login as the
// nickname, avatar_url as the picture). Its email field is the public email,
// possibly null and never known to be verified, so the email comes from
// GET /user/emails: the primary verified address; failing that the primary
// one, unverified (ErrMissingEmail when RequireVerifiedEmail). The emails
// are kept in the claims under "emails". A ClaimMapping for email replaces
// this rule.
func newGitHub(b base) Connector {
	b.mapping = mergeMapping(map[string]string{
		"subject":  "id",
		"name":     "name",
		"nickname": "login",
		"picture":  "avatar_url",
	}, b.cfg.ClaimMapping)
	api := strings.TrimSuffix(or(b.cfg.APIBaseURL, githubAPI), "/")
	ep := oauth2.Endpoint{
		AuthURL:   or(b.cfg.AuthURL, githubAuthURL),
		TokenURL:  or(b.cfg.TokenURL, githubTokenURL),
		AuthStyle: oauth2.AuthStyleInParams,
	}
	c := newOAuth2(b, ep, or(b.cfg.UserinfoURL, api+"/user"), []string{"read:user", "user:email"})
	c.profile = func(ctx context.Context, client *http.Client, tok *oauth2.Token) (claims, error) {
		cl, err := c.fetchUserinfo(ctx, client, tok)
		if err != nil {
			return nil, err
		}
		if _, mapped := b.mapping["email"]; mapped {
			return cl, nil
		}
		body, err := getJSON(ctx, client, api+"/user/emails", tok.AccessToken)
		if err != nil {
			return nil, err
		}
		var emails []any
		if err := json.Unmarshal(body, &emails); err != nil {
			return nil, newError(ErrInvalidResponse, "GitHub /user/emails", err)
		}
		cl["emails"] = emails
		return cl, nil
	}
	c.adjust = func(id *Identity, cl claims) {
		if _, mapped := b.mapping["email"]; mapped {
			return
		}
		id.Email, id.EmailVerified = githubEmail(cl)
	}
	return c
}

// githubEmail picks the primary email of GET /user/emails
// ([{"email", "primary", "verified", "visibility"}]).
func githubEmail(cl claims) (string, bool) {
	list, _ := cl["emails"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		email, _ := m["email"].(string)
		primary, _ := m["primary"].(bool)
		verified, _ := m["verified"].(bool)
		if primary && email != "" {
			return email, verified
		}
	}
	return "", false
}
