package account

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/atrium-id/atrium/consent"
	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// The "Connected apps" page: the apps the user let in (their consents),
// what each may use and since when. Removing an app's access deletes the
// consent and revokes every token the app holds for the user, so they
// stop working at once; the app has to ask again.
//
//	GET  /account/apps          the list
//	POST /account/apps/remove   remove the access of client_id

const (
	pathApps       = "/account/apps"
	pathAppsRemove = "/account/apps/remove"
)

// removedParam is the query parameter the list returns with after a
// removal.
const removedParam = "removed"

type appsData struct {
	Title  string
	User   *storage.User
	CSRF   string
	Apps   []appView
	Notice string
	Error  string
	L      page.Lang
}

type appView struct {
	ClientID, Name, Logo string
	// Scopes are what the app may use, in plain words.
	Scopes []string
	// Resources are the APIs the app may use on the user's behalf, by
	// name (their URI without one).
	Resources []string
	Since     time.Time
}

func (h *Handler) appsOn() bool { return h.cfg.Consents != nil }

func (h *Handler) appsRoutes(m *http.ServeMux) {
	if !h.appsOn() {
		return
	}
	m.HandleFunc("GET "+pathApps, h.apps)
	m.HandleFunc("POST "+pathAppsRemove, h.appRemove)
}

func (h *Handler) apps(w http.ResponseWriter, r *http.Request) {
	sess, user := h.signedIn(w, r, pathApps)
	if sess == nil {
		return
	}
	notice := ""
	if r.URL.Query().Get(removedParam) != "" {
		notice = "The app no longer has access to your account. It has to ask you again before it can sign you in."
	}
	h.renderApps(w, r, http.StatusOK, sess, user, notice, "")
}

func (h *Handler) renderApps(w http.ResponseWriter, r *http.Request, status int, sess *storage.Session, user *storage.User, notice, problem string) {
	apps, err := h.connectedApps(r.Context(), user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d := appsData{Title: "Connected apps", User: user, CSRF: h.csrfToken(sess.ID), Notice: notice, Error: problem}
	for _, a := range apps {
		v := appView{ClientID: a.ClientID, Name: a.Name, Logo: a.Logo, Since: a.Since}
		for _, s := range a.Scopes {
			desc := consent.Describe(s)
			if desc == "" {
				desc = s
			}
			if !slices.Contains(v.Scopes, desc) {
				v.Scopes = append(v.Scopes, desc)
			}
		}
		v.Resources = h.resourceNames(a.Resources)
		d.Apps = append(d.Apps, v)
	}
	h.render(w, r, status, "apps", d)
}

func (h *Handler) appRemove(w http.ResponseWriter, r *http.Request) {
	sess, user := h.postSession(w, r)
	if sess == nil {
		return
	}
	err := h.removeApp(r, user.ID, r.PostFormValue("client_id"))
	if errors.Is(err, storage.ErrNotFound) {
		// Removed meanwhile, or no app of this user's: the same answer.
		h.renderApps(w, r, http.StatusNotFound, sess, user, "", "That app has no access to your account.")
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, pathApps+"?"+removedParam+"=1", http.StatusSeeOther)
}

// connectedApp is an app the user let in: its consent, and its client's
// name and logo (an https link) while the client exists.
type connectedApp struct {
	ClientID, Name, Logo string
	Scopes               []string
	Resources            []string // URIs
	Since                time.Time
}

// resourceNames names the resources uris as the consent screen does: by
// their configured name, by URI without one.
func (h *Handler) resourceNames(uris []string) []string {
	out := slices.Clone(uris)
	if h.cfg.ResourceName == nil {
		return out
	}
	for i, u := range out {
		if n := h.cfg.ResourceName(u); n != "" {
			out[i] = n
		}
	}
	return out
}

// connectedApps lists the apps the user let in, the oldest consent first.
func (h *Handler) connectedApps(ctx context.Context, userID string) ([]connectedApp, error) {
	consents, err := h.cfg.Consents.ListConsents(ctx, userID)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(consents, func(a, b *storage.Consent) int { return a.CreatedAt.Compare(b.CreatedAt) })
	var out []connectedApp
	for _, c := range consents {
		a := connectedApp{ClientID: c.ClientID, Name: c.ClientID, Scopes: c.Scopes, Resources: c.Resources, Since: c.CreatedAt.UTC()}
		client, err := h.cfg.Clients.GetClient(ctx, c.ClientID)
		switch {
		case err == nil:
			if client.Name != "" {
				a.Name = client.Name
			}
			if u, err := url.Parse(client.LogoURI); err == nil && u.Scheme == "https" && u.Host != "" {
				a.Logo = client.LogoURI
			}
		case !errors.Is(err, storage.ErrNotFound):
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// removeApp removes the access of the app clientID: its consent goes and
// every token it holds for the user is revoked. An app the user has not
// let in is storage.ErrNotFound.
func (h *Handler) removeApp(r *http.Request, userID, clientID string) error {
	ctx := r.Context()
	if clientID == "" {
		return storage.ErrNotFound
	}
	if _, err := h.cfg.Consents.GetConsent(ctx, userID, clientID); err != nil {
		return err
	}
	detail := map[string]string{"client_id": clientID}
	if cr, ok := h.cfg.Auth.(ConsentRevoker); ok {
		if err := cr.RevokeConsent(r, userID, clientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	} else {
		// Tokens first: should the consent's delete then fail, the app
		// still cannot use what it had.
		n, err := h.cfg.Tokens.RevokeUserClientTokens(ctx, userID, clientID)
		if err != nil {
			return err
		}
		if err := h.cfg.Consents.DeleteConsent(ctx, userID, clientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		detail["tokens"] = strconv.Itoa(n)
	}
	h.audit(r, storage.AuditConsentRevoked, userID, detail)
	return nil
}
