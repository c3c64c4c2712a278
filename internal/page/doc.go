// Package page is the plumbing every server-rendered page shares: the
// layout (head and foot templates) and the security headers. The pages
// themselves live with the package that owns them (authz, account).
package page
