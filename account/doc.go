// Package account is the self-service area under /account, where signed-in
// users manage their own account:
//
//   - /account/security: two-step verification (an authenticator app,
//     recovery codes), a new verification link, sign-out;
//   - /account/passkeys: register, rename and remove passkeys;
//   - /account/identities: linked upstream identities (link, unlink unless
//     it is the last way to sign in);
//   - /account/profile, /account/apps, /account/sessions,
//     /account/activity: the profile's claims, the apps given access (and
//     removing it), SSO sessions (sign one or all out), and the account's
//     security history;
//   - /account/data: download everything held about the user, or delete
//     the account;
//   - /account/preferences: language, currency and communication opt-ins;
//   - /account/api/v1: the same self-service as JSON for apps (profile
//     and attributes, preferences, apps, sessions, activity, export),
//     behind bearer tokens with the scopes account.read and account.write.
//
// Changing a sign-in factor or the email address, downloading and
// deleting need a recent sign-in.
//
// It owns these pages, not authentication: the SSO session, signing in and
// upstream sign-ins belong to the OpenID Provider (authz), which the
// account area reaches only through the small Authenticator interface (and
// the optional Auditor, Verifier and ConsentRevoker). It depends on
// storage, authz/login (credential rules) and internal, never on authz or
// federation.
package account
