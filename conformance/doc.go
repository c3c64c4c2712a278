// Package conformance is a black-box test suite of Atrium's public HTTP
// surface. It builds the atrium binary, registers clients and users with
// its CLI, starts `atrium serve` on a loopback port and then acts as
// relying parties would: with golang.org/x/oauth2 and go-oidc, a cookie jar
// and a small HTML form driver standing in for the browser, and a real
// headless Chromium driven with chromedp for the pages themselves (the
// TestChromium tests; they skip when no chromium binary is found, unless
// ATRIUM_TEST_REQUIRE_CHROMIUM=1, and keep screenshots of every page under
// $ATRIUM_TEST_ARTIFACTS/screenshots).
//
// Tests are named after the OpenID Foundation OP test modules they mirror
// (oidcc-server becomes TestOIDCCServer) where one exists. The package
// imports nothing of Atrium: only the standard library, x/oauth2, go-oidc,
// go-jose, x/net/html and chromedp. TestImports keeps it that way.
//
// It does not own the server's unit tests, nor does it test the admin API
// or self-service pages.
package conformance
