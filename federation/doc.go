// Package federation owns Atrium's upstream sign-in connectors ("Continue
// with Google"): it builds the redirect to an upstream identity provider,
// turns the callback into a verified, normalized Identity, and reports
// failures as typed errors with a message fit for the end user.
//
// It owns the generic OpenID Connect and OAuth 2.0 connectors, the presets
// for well-known providers (Google, Microsoft Entra ID, Apple, GitHub,
// GitLab, Facebook, LinkedIn) and the Registry built from configuration.
//
// It does not own the interaction: the caller generates and stores state,
// nonce and PKCE verifier, checks state on the callback, and decides how an
// Identity is linked to a local account (TrustEmail, UpdateProfile and
// StoreTokens are carried for it, not acted on here). Nothing here touches
// storage or sessions.
//
// A flow, from the caller's side:
//
//	c, _ := registry.Get("github")
//	u, err := c.AuthCodeURL(ctx, federation.AuthRequest{State: s, Nonce: n, CodeVerifier: v, RedirectURI: cb})
//	// redirect to u; on the callback (GET query, or POST form when
//	// c.ResponseMode() is "form_post"), compare state with the stored one, then:
//	id, err := c.Exchange(ctx, federation.Callback{Params: params, Nonce: n, CodeVerifier: v, RedirectURI: cb})
//	var fe *federation.Error
//	if errors.As(err, &fe) { /* show fe.Message(), log err */ }
package federation
