package federation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"golang.org/x/oauth2"
)

// Kind classifies a federation failure by what the caller does about it.
type Kind string

const (
	// ErrDenied: the user or the provider declined the sign-in.
	ErrDenied Kind = "denied"
	// ErrInvalidResponse: the upstream answer could not be trusted or read
	// (forged, expired or misaddressed ID token, nonce mismatch, a spent
	// code, malformed JSON).
	ErrInvalidResponse Kind = "invalid_response"
	// ErrUnavailable: the upstream could not be reached or failed (timeout,
	// refused connection, 5xx, discovery not yet done).
	ErrUnavailable Kind = "unavailable"
	// ErrMissingEmail: the upstream gave no (verified) email where the
	// provider's configuration requires one.
	ErrMissingEmail Kind = "missing_email"
	// ErrConfig: the provider is misconfigured, on our side or upstream
	// (unknown client, bad redirect URI, invalid settings).
	ErrConfig Kind = "config"
)

// Error is a federation failure. Error() is for logs; Message() is for the
// page shown to the person. Neither ever carries a secret or a token: Detail
// and Err are built from status codes, OAuth error codes and verification
// failures, never from request or response bodies holding credentials.
type Error struct {
	Kind   Kind
	Detail string
	Err    error
}

func (e *Error) Error() string {
	s := "federation: " + string(e.Kind)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Message is a sentence for the end user's error page.
func (e *Error) Message() string {
	switch e.Kind {
	case ErrDenied:
		return "The sign-in was cancelled or declined. You can try again or choose another way to sign in."
	case ErrInvalidResponse:
		return "The sign-in provider sent an answer we could not accept. Please try again."
	case ErrUnavailable:
		return "The sign-in provider is not reachable right now. Please try again in a few minutes."
	case ErrMissingEmail:
		return "The sign-in provider did not share a verified email address, which this site requires. Check your account's email settings there, or choose another way to sign in."
	case ErrConfig:
		return "This sign-in option is not set up correctly. Please choose another way to sign in."
	}
	return "The sign-in failed. Please try again."
}

func newError(kind Kind, detail string, err error) *Error {
	return &Error{Kind: kind, Detail: detail, Err: err}
}

func errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// transportError classifies an error from an upstream request. A
// *oauth2.RetrieveError is not wrapped: its text holds the raw response
// body; only its status and OAuth error code are kept.
func transportError(what string, err error) *Error {
	var fe *Error
	if errors.As(err, &fe) {
		return fe
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		detail := fmt.Sprintf("%s: status %d", what, status)
		if re.ErrorCode != "" {
			detail += " error " + re.ErrorCode
		}
		switch {
		case status >= 500:
			return errorf(ErrUnavailable, "%s", detail)
		case re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client":
			return errorf(ErrConfig, "%s", detail)
		}
		return errorf(ErrInvalidResponse, "%s", detail)
	}
	if unreachable(err) {
		return newError(ErrUnavailable, what, err)
	}
	return newError(ErrInvalidResponse, what, err)
}

func unreachable(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.As(err, &ne) || errors.As(err, &ue)
}

// callbackError maps an OAuth error response on the callback (RFC 6749
// 4.1.2.1, OpenID Connect Core 3.1.2.6) to a Kind.
func callbackError(params url.Values) *Error {
	code := params.Get("error")
	if code == "" {
		return nil
	}
	detail := "upstream answered error " + code
	if d := params.Get("error_description"); d != "" {
		if len(d) > 200 {
			d = d[:200]
		}
		detail += fmt.Sprintf(" (%q)", d)
	}
	kind := ErrDenied
	switch code {
	case "server_error", "temporarily_unavailable":
		kind = ErrUnavailable
	case "invalid_request", "unauthorized_client", "unsupported_response_type", "invalid_scope", "invalid_client", "redirect_uri_mismatch":
		kind = ErrConfig
	}
	return errorf(kind, "%s", detail)
}
