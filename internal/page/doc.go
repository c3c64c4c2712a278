// Package page is the plumbing every server-rendered page shares: the
// layout (head and foot templates), the security headers, the languages
// (Lang, Negotiate, the catalogs in locales/) and the operator's branding
// (Theme, and Set, a package's templates parsed with a theme and its
// override folder). The pages themselves live with the package that owns
// them (authz, account).
package page
