package authz

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/ory/fosite"
)

func TestAssertionErrors(t *testing.T) {
	withAssertion := url.Values{"client_assertion_type": {assertionType}, "client_assertion": {"a.b.c"}}
	tests := []struct {
		name string
		form url.Values
		err  error
		want string // the error code answered; "" for none
	}{
		{"unknown kid", withAssertion, fosite.ErrInvalidRequest.WithHint("The JSON Web Token uses signing key with kid 'k2', which could not be found."), "invalid_client"},
		{"already invalid_client", withAssertion, fosite.ErrInvalidClient, "invalid_client"},
		{"storage down", withAssertion, fosite.ErrServerError, "server_error"},
		{"success", withAssertion, nil, ""},
		{"assertion type without assertion", url.Values{"client_assertion_type": {assertionType}}, fosite.ErrInvalidRequest, "invalid_request"},
		{"secret, malformed", url.Values{"client_id": {"c"}}, fosite.ErrInvalidRequest, "invalid_request"},
		{"another assertion type", url.Values{"client_assertion_type": {"urn:x"}, "client_assertion": {"a.b.c"}}, fosite.ErrInvalidRequest, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := assertionErrors(func(context.Context, *http.Request, url.Values) (fosite.Client, error) {
				return nil, tt.err
			})
			_, err := auth(t.Context(), &http.Request{}, tt.form)
			got := ""
			var rfc *fosite.RFC6749Error
			if errors.As(err, &rfc) {
				got = rfc.ErrorField
			} else if err != nil {
				t.Fatalf("error %v is not an RFC 6749 error", err)
			}
			if got != tt.want {
				t.Errorf("error %q, want %q", got, tt.want)
			}
		})
	}
}
