package account

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// The account API: the pages' self-service as JSON, for apps that build
// their own screens. A request carries an access token this provider
// issued to the app for the user ("Authorization: Bearer"); the session
// cookie is never read. Reading needs the scope account.read, changing
// account.write. It shares its checks and stores with the pages.
//
//	GET    /account/api/v1/me                   the profile's claims and attributes
//	PATCH  /account/api/v1/me                   merge claims and attributes in (RFC 7396)
//	GET    /account/api/v1/preferences          language, currency, opt-ins
//	PATCH  /account/api/v1/preferences          merge preferences in (RFC 7396)
//	GET    /account/api/v1/apps                 the connected apps
//	DELETE /account/api/v1/apps/{client_id}     remove an app's access
//	GET    /account/api/v1/sessions             the SSO sessions
//	DELETE /account/api/v1/sessions/{handle}    sign one out
//	GET    /account/api/v1/activity[?after=]    the history, a page at a time
//	GET    /account/api/v1/export               the Your data download
//
// There is no deletion: deleting an account takes the page's typed
// confirmation and a recent sign-in. Errors follow RFC 6750: 401
// invalid_token, 403 insufficient_scope (with the scope needed), 400
// invalid_request (naming the field), each with a JSON body {"error",
// "error_description"}. Browser apps on any origin may call it: the API
// answers CORS preflights and allows every origin, as it takes no
// cookies.

// BearerAuthenticator checks bearer access tokens; an Authenticator that
// is one (as *authz.Provider is) serves the account API.
type BearerAuthenticator interface {
	// BearerUser returns the user of the request's bearer access token,
	// the client it was issued to and when the user signed in for it
	// (zero when unknown). The token must have been granted scope. A
	// refused token is an error with a method BearerChallenge() (status
	// int, code, description, scope string), as RFC 6750 §3 describes it,
	// and optionally ChallengeHeader() http.Header, the headers to answer
	// with instead of the Bearer challenge (a DPoP-bound token's).
	BearerUser(r *http.Request, scope string) (user *storage.User, clientID string, authTime time.Time, err error)
}

// Scopes of the account API.
const (
	scopeRead  = "account.read"
	scopeWrite = "account.write"
)

// pathAPI is the prefix of the account API.
const pathAPI = "/account/api/v1"

// maxAPIBody is the largest request body the API reads.
const maxAPIBody = 64 << 10

// bearerChallenger is a refused bearer token (BearerAuthenticator).
type bearerChallenger interface {
	BearerChallenge() (status int, code, description, scope string)
}

// apiHandler returns the account API, nil when the Authenticator checks
// no bearer tokens. It lies outside the cross-origin protection of the
// forms: a bearer token, unlike a cookie, is never sent by itself.
func (h *Handler) apiHandler() http.Handler {
	if _, ok := h.cfg.Auth.(BearerAuthenticator); !ok {
		return nil
	}
	m := http.NewServeMux()
	if h.cfg.Users != nil {
		m.HandleFunc("GET "+pathAPI+"/me", h.apiMe)
		m.HandleFunc("PATCH "+pathAPI+"/me", h.apiMePatch)
		m.HandleFunc(pathAPI+"/me", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", "GET, PATCH")
			desc := "Use GET or PATCH."
			if r.Method == http.MethodDelete {
				desc = "An account cannot be deleted over the API: deleting it takes the account page's confirmation and a recent sign-in."
			}
			apiError(w, http.StatusMethodNotAllowed, "invalid_request", desc)
		})
	}
	if h.cfg.Preferences != nil {
		m.HandleFunc("GET "+pathAPI+"/preferences", h.apiPreferences)
		m.HandleFunc("PATCH "+pathAPI+"/preferences", h.apiPreferencesPatch)
	}
	if h.appsOn() {
		m.HandleFunc("GET "+pathAPI+"/apps", h.apiApps)
		m.HandleFunc("DELETE "+pathAPI+"/apps/{client_id}", h.apiAppRemove)
	}
	if h.cfg.Sessions != nil {
		m.HandleFunc("GET "+pathAPI+"/sessions", h.apiSessions)
		m.HandleFunc("DELETE "+pathAPI+"/sessions/{handle}", h.apiSessionEnd)
	}
	if h.cfg.Audit != nil {
		m.HandleFunc("GET "+pathAPI+"/activity", h.apiActivity)
	}
	if h.cfg.Data != nil {
		m.HandleFunc("GET "+pathAPI+"/export", h.apiExport)
	}
	m.HandleFunc(pathAPI+"/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "not_found", "There is no such resource in the account API.")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", "*")
		hd.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		hd.Set("Cache-Control", "no-store")
		if r.Method == http.MethodOptions {
			// A CORS preflight: what a cross-origin call may send.
			hd.Set("Access-Control-Allow-Methods", "GET, PATCH, DELETE")
			hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			hd.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		m.ServeHTTP(w, r)
	})
}

// apiError writes an error body.
func apiError(w http.ResponseWriter, status int, code, desc string) {
	apiJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func apiJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// challenge writes a refusal with its RFC 6750 challenge; extra are more
// auth-params (RFC 9470's max_age).
func challenge(w http.ResponseWriter, status int, code, desc, scope string, extra ...string) {
	quote := func(s string) string { return strings.NewReplacer(`"`, `'`, `\`, `/`).Replace(s) }
	c := `Bearer realm="atrium", error="` + code + `", error_description="` + quote(desc) + `"`
	if scope != "" {
		c += `, scope="` + scope + `"`
	}
	for i := 0; i+1 < len(extra); i += 2 {
		c += ", " + extra[i] + `="` + quote(extra[i+1]) + `"`
	}
	w.Header().Set("WWW-Authenticate", c)
	body := map[string]string{"error": code, "error_description": desc}
	if scope != "" {
		body["scope"] = scope
	}
	apiJSON(w, status, body)
}

// apiCaller is who makes an API request.
type apiCaller struct {
	user     *storage.User
	clientID string
	authTime time.Time
}

// bearer returns the caller of the request, whose token must have scope;
// else it answers the request and returns nil.
func (h *Handler) bearer(w http.ResponseWriter, r *http.Request, scope string) *apiCaller {
	user, clientID, authTime, err := h.cfg.Auth.(BearerAuthenticator).BearerUser(r, scope)
	var bc bearerChallenger
	if errors.As(err, &bc) {
		status, code, desc, sc := bc.BearerChallenge()
		h.log.InfoContext(r.Context(), "account api refused", "reason", code, "path", r.URL.Path, "request_id", requestID(w, r))
		if hc, ok := bc.(interface{ ChallengeHeader() http.Header }); ok && hc.ChallengeHeader() != nil {
			// A DPoP-bound token's challenge (and nonce) instead of Bearer's.
			maps.Copy(w.Header(), hc.ChallengeHeader())
			apiJSON(w, status, map[string]string{"error": code, "error_description": desc})
			return nil
		}
		challenge(w, status, code, desc, sc)
		return nil
	}
	if err != nil {
		h.apiServerError(w, r, err)
		return nil
	}
	return &apiCaller{user: user, clientID: clientID, authTime: authTime}
}

func (h *Handler) apiServerError(w http.ResponseWriter, r *http.Request, err error) {
	id := requestID(w, r)
	if errors.Is(err, storage.ErrUnavailable) {
		h.log.WarnContext(r.Context(), "account api: store unavailable", "err", err, "request_id", id)
		w.Header().Set("Retry-After", "5")
		apiError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The service is briefly unavailable; try again shortly.")
		return
	}
	level := slog.LevelError
	if r.Context().Err() != nil {
		level = slog.LevelDebug
	}
	h.log.Log(r.Context(), level, "account api failed", "err", err, "path", r.URL.Path, "request_id", id)
	apiError(w, http.StatusInternalServerError, "server_error", "Something went wrong on our side (request "+id+").")
}

// recent reports whether the caller's sign-in is recent (RecentSignIn);
// if not it answers as RFC 9470 says: sign in again, then retry.
func (h *Handler) recent(w http.ResponseWriter, r *http.Request, c *apiCaller, what string) bool {
	if !c.authTime.IsZero() && time.Since(c.authTime) <= RecentSignIn {
		return true
	}
	h.log.InfoContext(r.Context(), "account api refused", "reason", "sign-in not recent", "path", r.URL.Path, "request_id", requestID(w, r))
	challenge(w, http.StatusUnauthorized, "insufficient_user_authentication",
		what+" needs a sign-in within the last 15 minutes: have the user sign in again (max_age=900) and use the new access token.",
		"", "max_age", fmt.Sprint(int(RecentSignIn/time.Second)))
	return false
}

// Profile.

// addressParts are the profile fields that are parts of the address claim.
var addressParts = []string{"street_address", "postal_code", "locality", "region", "country"}

// meOf is the profile's claims, as userinfo names them, empty ones left
// out, and when the operator defines attributes (defs) the user's values
// of them under "attributes".
func meOf(u *storage.User, defs []storage.AttributeDef) map[string]any {
	m := map[string]any{"sub": u.ID}
	addr := map[string]string{}
	for _, f := range profileFields {
		v := f.get(u)
		switch {
		case v == "":
		case slices.Contains(addressParts, f.name):
			addr[f.name] = v
		default:
			m[f.name] = v
		}
	}
	if u.Address.Formatted != "" {
		addr["formatted"] = u.Address.Formatted
	}
	if len(addr) > 0 {
		m["address"] = addr
	}
	if u.Email != "" {
		m["email_verified"] = u.EmailVerified
	}
	if u.PhoneNumber != "" {
		m["phone_number_verified"] = u.PhoneNumberVerified
	}
	if !u.UpdatedAt.IsZero() {
		m["updated_at"] = u.UpdatedAt.Unix()
	}
	if len(defs) > 0 {
		m["attributes"] = attributeValues(defs, u)
	}
	return m
}

func (h *Handler) apiMe(w http.ResponseWriter, r *http.Request) {
	c := h.bearer(w, r, scopeRead)
	if c == nil {
		return
	}
	apiJSON(w, http.StatusOK, meOf(c.user, h.cfg.Attributes))
}

// badField answers a request whose field is wrong.
func badField(w http.ResponseWriter, status int, field, problem string) {
	apiJSON(w, status, map[string]string{"error": "invalid_request", "error_description": field + ": " + problem, "field": field})
}

// readJSONObject reads body, one JSON object, into its members; else it
// returns the problem, an example its message gives.
func readJSONObject(body []byte, example string) (map[string]json.RawMessage, string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var patch map[string]json.RawMessage
	if err := dec.Decode(&patch); err != nil || patch == nil {
		return nil, "Send a JSON object of the values to change, such as " + example + "."
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "Send one JSON object and nothing after it."
	}
	return patch, ""
}

// readPatch reads a JSON merge patch (RFC 7396) of the profile into
// values, which hold the stored profile: a string sets a field, null
// clears it, "address" is an object of its parts. It returns the patch's
// "attributes" member (patchAttributes checks it), or the field that is
// wrong and why.
func readPatch(body []byte, values url.Values) (attrs json.RawMessage, field, problem string) {
	patch, problem := readJSONObject(body, `{"name": "Ada Lovelace"}`)
	if problem != "" {
		return nil, "body", problem
	}
	set := func(name string, raw json.RawMessage) string {
		if string(raw) == "null" {
			values.Set(name, "")
			return ""
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "Use a string, or null to remove the value."
		}
		values.Set(name, strings.TrimSpace(v))
		return ""
	}
	keys := make([]string, 0, len(patch))
	for k := range patch {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		raw := patch[k]
		switch {
		case k == "address":
			if string(raw) == "null" {
				for _, p := range addressParts {
					values.Set(p, "")
				}
				continue
			}
			var addr map[string]json.RawMessage
			if err := json.Unmarshal(raw, &addr); err != nil || addr == nil {
				return nil, k, "Use an object of the address's parts, such as {\"locality\": \"Berlin\"}, or null to remove it."
			}
			parts := make([]string, 0, len(addr))
			for p := range addr {
				parts = append(parts, p)
			}
			slices.Sort(parts)
			for _, p := range parts {
				if !slices.Contains(addressParts, p) {
					return nil, "address." + p, "This part of the address cannot be changed here; use " + strings.Join(addressParts, ", ") + "."
				}
				if msg := set(p, addr[p]); msg != "" {
					return nil, "address." + p, msg
				}
			}
		case k == "attributes":
			attrs = raw
		case slices.Contains(addressParts, k) || !slices.ContainsFunc(profileFields, func(f profileField) bool { return f.name == k }):
			return nil, k, "This claim cannot be changed here."
		default:
			if msg := set(k, raw); msg != "" {
				return nil, k, msg
			}
		}
	}
	return attrs, "", ""
}

// jsonPatchTypes are the media types a profile patch may be sent as.
var jsonPatchTypes = []string{"application/merge-patch+json", "application/json"}

// readPatchBody reads the body of a merge patch; else it answers the
// request and returns false.
func readPatchBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || !slices.Contains(jsonPatchTypes, mt) {
		apiError(w, http.StatusUnsupportedMediaType, "invalid_request", "Send the changes as application/merge-patch+json.")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		badField(w, http.StatusRequestEntityTooLarge, "body", "Send at most 64 KiB.")
		return nil, false
	}
	return body, true
}

func (h *Handler) apiMePatch(w http.ResponseWriter, r *http.Request) {
	c := h.bearer(w, r, scopeWrite)
	if c == nil {
		return
	}
	body, ok := readPatchBody(w, r)
	if !ok {
		return
	}
	user := c.user
	values := url.Values{}
	for _, f := range profileFields {
		values.Set(f.name, f.get(user))
	}
	attrsPatch, field, problem := readPatch(body, values)
	if field != "" {
		badField(w, http.StatusBadRequest, field, problem)
		return
	}
	if problems := checkProfile(values, user); len(problems) > 0 {
		p := problems[0]
		name := p.Field
		if slices.Contains(addressParts, name) {
			name = "address." + name
		}
		badField(w, http.StatusBadRequest, name, p.Error)
		return
	}
	next, changed := nextProfile(user, values)
	if attrsPatch != nil {
		attrs, field, problem := patchAttributes(h.cfg.Attributes, user, attrsPatch)
		if field != "" {
			badField(w, http.StatusBadRequest, field, problem)
			return
		}
		changed = append(changed, setAttributes(h.cfg.Attributes, user, next, attrs)...)
	}
	if len(changed) == 0 {
		apiJSON(w, http.StatusOK, meOf(user, h.cfg.Attributes))
		return
	}
	if !strings.EqualFold(next.Email, user.Email) && !h.recent(w, r, c, "Changing the email address") {
		return
	}
	if _, err := h.storeProfile(r, user, next, changed); errors.Is(err, errEmailTaken) {
		h.log.InfoContext(r.Context(), "profile refused", "reason", "email address of another account", "user_id", user.ID, "request_id", requestID(w, r))
		badField(w, http.StatusConflict, "email", "This email address cannot be used. If it is the user's, they may already have an account with it.")
		return
	} else if err != nil {
		h.apiServerError(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, meOf(next, h.cfg.Attributes))
}

// Connected apps.

type apiApp struct {
	ClientID string   `json:"client_id"`
	Name     string   `json:"name"`
	LogoURI  string   `json:"logo_uri,omitempty"`
	Scopes   []string `json:"scopes"`
	// Resources are the URIs of the APIs the app may use on the user's
	// behalf.
	Resources []string  `json:"resources"`
	Since     time.Time `json:"since"`
}

func (h *Handler) apiApps(w http.ResponseWriter, r *http.Request) {
	c := h.bearer(w, r, scopeRead)
	if c == nil {
		return
	}
	apps, err := h.connectedApps(r.Context(), c.user.ID)
	if err != nil {
		h.apiServerError(w, r, err)
		return
	}
	out := []apiApp{}
	for _, a := range apps {
		out = append(out, apiApp{ClientID: a.ClientID, Name: a.Name, LogoURI: a.Logo, Scopes: orEmpty(a.Scopes),
			Resources: orEmpty(a.Resources), Since: a.Since})
	}
	apiJSON(w, http.StatusOK, map[string]any{"apps": out})
}

func (h *Handler) apiAppRemove(w http.ResponseWriter, r *http.Request) {
	c := h.bearer(w, r, scopeWrite)
	if c == nil {
		return
	}
	err := h.removeApp(r, c.user.ID, r.PathValue("client_id"))
	if errors.Is(err, storage.ErrNotFound) {
		apiError(w, http.StatusNotFound, "not_found", "That app has no access to the account.")
		return
	}
	if err != nil {
		h.apiServerError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Sessions.

type apiSession struct {
	ID        string    `json:"id"` // the handle (sessionHandle)
	SignedIn  time.Time `json:"signed_in_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Methods are the sign-in methods (amr values).
	Methods []string `json:"methods"`
}

func (h *Handler) apiSessions(w http.ResponseWriter, r *http.Request) {
	c := h.bearer(w, r, scopeRead)
	if c == nil {
		return
	}
	list, err := h.cfg.Sessions.ListUserSessions(r.Context(), c.user.ID)
	if err != nil {
		h.apiServerError(w, r, err)
		return
	}
	slices.SortFunc(list, func(a, b *storage.Session) int { return b.AuthTime.Compare(a.AuthTime) })
	out := []apiSession{}
	for _, s := range list {
		out = append(out, apiSession{ID: h.sessionHandle(s.ID), SignedIn: s.AuthTime.UTC(), ExpiresAt: s.ExpiresAt.UTC(), Methods: orEmpty(s.AMR)})
	}
	apiJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (h *Handler) apiSessionEnd(w http.ResponseWriter, r *http.Request) {
	c := h.bearer(w, r, scopeWrite)
	if c == nil {
		return
	}
	s, err := h.sessionByHandle(r.Context(), c.user.ID, r.PathValue("handle"))
	if errors.Is(err, storage.ErrNotFound) {
		// Ended meanwhile, or another user's: the same answer for both.
		apiError(w, http.StatusNotFound, "not_found", "That session has ended already.")
		return
	}
	if err == nil {
		err = h.endSession(r, c.user.ID, s)
	}
	if err != nil {
		h.apiServerError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Activity.

type apiEvent struct {
	Time        time.Time `json:"time"`
	Type        string    `json:"type"`
	Description string    `json:"description"`
	IP          string    `json:"ip,omitempty"`
	Browser     string    `json:"browser,omitempty"`
	OS          string    `json:"os,omitempty"`
}

func (h *Handler) apiActivity(w http.ResponseWriter, r *http.Request) {
	c := h.bearer(w, r, scopeRead)
	if c == nil {
		return
	}
	events, next, ok, err := h.history(r.Context(), c.user.ID, r.URL.Query().Get("after"))
	if err != nil {
		h.apiServerError(w, r, err)
		return
	}
	if !ok {
		badField(w, http.StatusBadRequest, "after", "Use the next value of the previous answer.")
		return
	}
	out := make([]apiEvent, 0, len(events))
	for _, v := range events {
		out = append(out, apiEvent{Time: v.When, Type: v.Type, Description: v.sentence(), IP: v.IP, Browser: v.Browser, OS: v.OS})
	}
	body := map[string]any{"events": out}
	if next != "" {
		body["next"] = next
	}
	apiJSON(w, http.StatusOK, body)
}

// Export.

func (h *Handler) apiExport(w http.ResponseWriter, r *http.Request) {
	c := h.bearer(w, r, scopeRead)
	if c == nil || !h.recent(w, r, c, "Downloading the account's data") {
		return
	}
	x, err := h.collect(r, c.user)
	if err != nil {
		h.apiServerError(w, r, err)
		return
	}
	h.audit(r, storage.AuditDataExported, c.user.ID, nil)
	apiJSON(w, http.StatusOK, x)
}
