// Package account is the self-service area under /account, where signed-in
// users manage their own account. It has one page so far: "Sign-in
// methods" (/account/identities), which lists the linked upstream
// identities and whether the account has a password, unlinks an identity
// unless it is the last way to sign in, and links a configured upstream
// provider.
//
// It owns these pages, not authentication: the SSO session, signing in and
// upstream sign-ins belong to the OpenID Provider (authz), which the
// account area reaches only through the small Authenticator interface. It
// depends on storage, never on authz or federation.
package account
