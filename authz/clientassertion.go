package authz

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/ory/fosite"
)

// assertionType is the client_assertion_type of RFC 7523 §2.2.
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionErrors wraps fosite's client authentication so that a client
// assertion that cannot be verified is answered invalid_client (RFC 7523
// §3.2), as a wrong secret is. fosite answers invalid_request when the
// assertion names a key ID its client's key set lacks (a client that
// rotated its keys before the set at its jwks_uri did, or a forged
// assertion) or the set has no usable key: to the client that is a failed
// authentication, not a malformed request. A request that sends
// client_assertion_type without an assertion stays invalid_request.
func assertionErrors(authenticate fosite.ClientAuthenticationStrategy) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		c, err := authenticate(ctx, r, form)
		if err == nil || form.Get("client_assertion_type") != assertionType || form.Get("client_assertion") == "" {
			return c, err
		}
		var rfc *fosite.RFC6749Error
		if errors.As(err, &rfc) && rfc.ErrorField == fosite.ErrInvalidRequest.ErrorField {
			return c, fosite.ErrInvalidClient.WithHint("The client assertion could not be verified.").WithWrap(err).WithDebug(rfc.GetDescription())
		}
		return c, err
	}
}
