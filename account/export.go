package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// The "Your data" pages: a download of everything held about the user
// (export) and the deletion of the account (delete.go). Both need a recent
// sign-in (RecentSignIn), as changing sign-in factors does.
//
//	GET  /account/data      what there is; the download and delete buttons
//	POST /account/export    the JSON document, as an attachment
//	GET  /account/delete    what goes; type the address to confirm
//	POST /account/delete    erase the account, sign the browser out

// DataStores are what export and deletion read and erase, beside
// Config.Identities and Config.Credentials.
type DataStores struct {
	Consents storage.ConsentStore
	Sessions storage.SessionStore
	Tokens   storage.TokenStore
	Audit    storage.AuditStore
	Eraser   storage.UserEraser
	// Logout tells the apps of the sessions a deletion ends
	// (back-channel logout); nil tells no one.
	Logout SessionsLogout
}

// SessionsLogout tells the apps of ended sessions that they ended
// (*authz.Provider sends the logouts; authz.LogoutQueue leaves them to
// the servers).
type SessionsLogout interface {
	LogoutSessions(ctx context.Context, sessions []*storage.Session) error
}

// Paths of the data pages.
const (
	pathData   = "/account/data"
	pathExport = "/account/export"
	pathDelete = "/account/delete"
)

// dataRoutes adds the data pages when Config.Data is set.
func (h *Handler) dataRoutes(m *http.ServeMux) {
	if h.cfg.Data == nil {
		return
	}
	m.HandleFunc("GET "+pathData, h.dataPage)
	m.HandleFunc("POST "+pathExport, h.export)
	m.HandleFunc("GET "+pathDelete, h.deletePage)
	m.HandleFunc("POST "+pathDelete, h.deleteAccount)
}

func (c *DataStores) validate() error {
	if c.Consents == nil || c.Sessions == nil || c.Tokens == nil || c.Audit == nil || c.Eraser == nil {
		return errors.New("account: Data needs Consents, Sessions, Tokens, Audit and Eraser")
	}
	return nil
}

// dataData is the data page's.
type dataData struct {
	Title string
	User  *storage.User
	CSRF  string
	L     page.Lang
}

func (h *Handler) dataPage(w http.ResponseWriter, r *http.Request) {
	sess, user := h.signedIn(w, r, pathData)
	if sess == nil {
		return
	}
	h.render(w, r, http.StatusOK, "data", dataData{Title: "Your data", User: user, CSRF: h.csrfToken(sess.ID)})
}

// Export is the document a user downloads: everything held about them.
// Each section is one kind of record; the export test checks that every
// SQL table with a user_id column has its section.
type Export struct {
	Format     string    `json:"format"` // "atrium-export/1"
	ExportedAt time.Time `json:"exported_at"`
	// Profile is the users row.
	Profile exportProfile `json:"profile"`
	// Identities are the identities rows: the upstream accounts linked.
	Identities []exportIdentity `json:"identities"`
	// Credentials are the credentials rows, described without secrets.
	Credentials []exportCredential `json:"credentials"`
	// Consents are the consents rows: what each app may use now.
	Consents []exportConsent `json:"consents"`
	// ConsentHistory is the consent_events rows: every consent given and
	// withdrawn.
	ConsentHistory []exportConsentEvent `json:"consent_history"`
	// Sessions are the SSO sessions (the sessions rows, or the state
	// store's).
	Sessions []exportSession `json:"sessions"`
	// Activity is the audit_events rows, newest first.
	Activity []exportActivity `json:"activity"`
	// Preferences is the preferences row: one entry, none when the user
	// never saved any.
	Preferences []exportPreferences `json:"preferences"`
}

type exportPreferences struct {
	Language string `json:"language,omitempty"`
	Currency string `json:"currency,omitempty"`
	// OptIns are the channels accepted per purpose.
	OptIns    map[string][]string `json:"opt_ins"`
	UpdatedAt time.Time           `json:"updated_at"`
}

// ExportFormat names the document's version.
const ExportFormat = "atrium-export/1"

type exportProfile struct {
	ID                  string          `json:"id"`
	Email               string          `json:"email,omitempty"`
	EmailVerified       bool            `json:"email_verified"`
	Name                string          `json:"name,omitempty"`
	GivenName           string          `json:"given_name,omitempty"`
	FamilyName          string          `json:"family_name,omitempty"`
	Nickname            string          `json:"nickname,omitempty"`
	Picture             string          `json:"picture,omitempty"`
	Locale              string          `json:"locale,omitempty"`
	Zoneinfo            string          `json:"zoneinfo,omitempty"`
	PhoneNumber         string          `json:"phone_number,omitempty"`
	PhoneNumberVerified bool            `json:"phone_number_verified"`
	Address             storage.Address `json:"address,omitzero"`
	Attributes          map[string]any  `json:"attributes,omitempty"`
	Disabled            bool            `json:"disabled"`
	CreatedAt           time.Time       `json:"created_at"`
	UpdatedAt           time.Time       `json:"updated_at"`
}

type exportIdentity struct {
	Provider string          `json:"provider"`
	Subject  string          `json:"subject"`
	Email    string          `json:"email,omitempty"`
	Claims   json.RawMessage `json:"claims,omitempty"`
	// UpstreamTokensKept says the provider's tokens are kept (encrypted);
	// they are not part of the export.
	UpstreamTokensKept bool      `json:"upstream_tokens_kept"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

type exportCredential struct {
	Type      string    `json:"type"`
	Name      string    `json:"name,omitempty"` // a passkey's
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	LastUsed  time.Time `json:"last_used_at,omitzero"` // a passkey's
}

type exportConsent struct {
	ClientID      string    `json:"client_id"`
	Scopes        []string  `json:"scopes"`
	Declined      []string  `json:"declined,omitempty"`  // scopes the user left unticked
	Resources     []string  `json:"resources,omitempty"` // the APIs the user let the app reach
	PolicyVersion string    `json:"policy_version,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

type exportConsentEvent struct {
	At            time.Time `json:"at"`
	Action        string    `json:"action"`
	ClientID      string    `json:"client_id,omitempty"`
	Purpose       string    `json:"purpose,omitempty"`
	Scopes        []string  `json:"scopes"`
	Resources     []string  `json:"resources,omitempty"`
	PolicyVersion string    `json:"policy_version,omitempty"`
	IP            string    `json:"ip,omitempty"`
	UserAgent     string    `json:"user_agent,omitempty"`
}

type exportSession struct {
	SignedInAt time.Time `json:"signed_in_at"`
	Methods    []string  `json:"methods"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

type exportActivity struct {
	Time      time.Time         `json:"time"`
	Type      string            `json:"type"`
	ClientID  string            `json:"client_id,omitempty"`
	IP        string            `json:"ip,omitempty"`
	UserAgent string            `json:"user_agent,omitempty"`
	Detail    map[string]string `json:"detail,omitempty"`
}

// maxExportActivity bounds the audit events an export reads.
const maxExportActivity = 100_000

// collect builds the export of u.
func (h *Handler) collect(r *http.Request, u *storage.User) (*Export, error) {
	ctx := r.Context()
	d := h.cfg.Data
	x := &Export{Format: ExportFormat, ExportedAt: time.Now().UTC().Truncate(time.Second),
		Identities: []exportIdentity{}, Credentials: []exportCredential{}, Consents: []exportConsent{},
		ConsentHistory: []exportConsentEvent{}, Sessions: []exportSession{}, Activity: []exportActivity{},
		Preferences: []exportPreferences{}}
	x.Profile = exportProfile{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name,
		GivenName: u.GivenName, FamilyName: u.FamilyName, Nickname: u.Nickname, Picture: u.Picture,
		Locale: u.Locale, Zoneinfo: u.Zoneinfo, PhoneNumber: u.PhoneNumber, PhoneNumberVerified: u.PhoneNumberVerified,
		Address: u.Address, Attributes: u.Attributes, Disabled: u.Disabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}

	ids, err := h.cfg.Identities.ListIdentities(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("identities: %w", err)
	}
	for _, i := range ids {
		e := exportIdentity{Provider: i.Provider, Subject: i.Subject, Email: i.Email,
			UpstreamTokensKept: len(i.Tokens) > 0, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt}
		if json.Valid(i.Claims) {
			e.Claims = i.Claims
		}
		x.Identities = append(x.Identities, e)
	}

	creds, err := h.cfg.Credentials.ListCredentials(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	for _, c := range creds {
		e := exportCredential{Type: c.Type, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
		if c.Type == storage.CredentialPasskey {
			if pk, err := login.PasskeyFromCredential(c); err == nil {
				e.Name, e.LastUsed = pk.Name, pk.LastUsedAt
			}
		}
		x.Credentials = append(x.Credentials, e)
	}

	consents, err := d.Consents.ListConsents(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("consents: %w", err)
	}
	for _, c := range consents {
		x.Consents = append(x.Consents, exportConsent{ClientID: c.ClientID, Scopes: orEmpty(c.Scopes), Declined: c.Declined,
			Resources: c.Resources, PolicyVersion: c.PolicyVersion, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt})
	}
	events, err := d.Consents.ListConsentEvents(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("consent history: %w", err)
	}
	for _, e := range events {
		x.ConsentHistory = append(x.ConsentHistory, exportConsentEvent{At: e.At, Action: e.Action, ClientID: e.ClientID,
			Purpose: e.Purpose, Scopes: orEmpty(e.Scopes), Resources: e.Resources, PolicyVersion: e.PolicyVersion, IP: e.IP, UserAgent: e.UserAgent})
	}

	sessions, err := d.Sessions.ListUserSessions(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	for _, s := range sessions {
		x.Sessions = append(x.Sessions, exportSession{SignedInAt: s.AuthTime, Methods: orEmpty(s.AMR),
			CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt})
	}

	if h.cfg.Preferences != nil {
		prefs, err := h.cfg.Preferences.GetPreferences(ctx, u.ID)
		if err != nil {
			return nil, fmt.Errorf("preferences: %w", err)
		}
		if !prefs.UpdatedAt.IsZero() {
			optIns := prefs.OptIns
			if optIns == nil {
				optIns = map[string][]string{}
			}
			x.Preferences = append(x.Preferences, exportPreferences{Language: prefs.Language, Currency: prefs.Currency,
				OptIns: optIns, UpdatedAt: prefs.UpdatedAt})
		}
	}

	p := storage.Page{Limit: 1000}
	for len(x.Activity) < maxExportActivity {
		evs, next, err := d.Audit.ListAudit(ctx, u.ID, p)
		if err != nil {
			return nil, fmt.Errorf("activity: %w", err)
		}
		for _, e := range evs {
			x.Activity = append(x.Activity, exportActivity{Time: e.Time, Type: e.Type, ClientID: e.ClientID,
				IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail})
		}
		if next == "" {
			break
		}
		p.After = next
	}
	return x, nil
}

func orEmpty(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func (h *Handler) export(w http.ResponseWriter, r *http.Request) {
	sess, user := h.postSession(w, r)
	if sess == nil || !h.recentlySignedIn(w, r, sess, pathData) {
		return
	}
	x, err := h.collect(r, user)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	body, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.audit(r, storage.AuditDataExported, user.ID, nil)
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Content-Disposition", `attachment; filename="account-data-`+x.ExportedAt.Format("2006-01-02")+`.json"`)
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}
