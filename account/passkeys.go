package account

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/internal/page"
	"github.com/atrium-id/atrium/storage"
)

// The "Passkeys" page: the user's passkeys (name, added, last used), add
// one, rename one, remove one. Adding and removing need a recent sign-in
// (RecentSignIn), as changing the other factors does.
//
//	GET  /account/passkeys          the list and the name of a new one
//	POST /account/passkeys/new      begin: the ceremony, sealed into the
//	                                form with the session's key, and a
//	                                button that runs it (the script
//	                                /assets/passkey.js, served by the
//	                                provider)
//	POST /account/passkeys/add      the authenticator's response: the
//	                                ceremony is spent (UseOnce), the
//	                                response verified, the passkey stored
//	POST /account/passkeys/rename   a new name
//	POST /account/passkeys/remove   remove one
//
// The ceremony asks for a discoverable credential (it signs in with no
// user name) and excludes the user's passkeys, so an authenticator does
// not register a second one for the account.

const (
	pathPasskeys      = "/account/passkeys"
	pathPasskeyNew    = "/account/passkeys/new"
	pathPasskeyAdd    = "/account/passkeys/add"
	pathPasskeyRename = "/account/passkeys/rename"
	pathPasskeyRemove = "/account/passkeys/remove"
	passkeyScript     = "/assets/passkey.js"
)

// passkeysData is the passkeys page's.
type passkeysData struct {
	Title    string
	User     *storage.User
	CSRF     string
	Passkeys []passkeyItem
	// Name, Options, Ceremony and Nonce are a registration begun: the name
	// asked for, the options of navigator.credentials.create, the sealed
	// ceremony and the script's CSP nonce.
	Name     string
	Options  string
	Ceremony string
	Nonce    string
	Script   string
	Notice   string
	Error    string
	L        page.Lang
}

type passkeyItem struct {
	ID, Name          string
	Created, LastUsed time.Time
	Synced, HasBackup bool
}

func (h *Handler) passkeyRoutes(m *http.ServeMux) {
	if h.cfg.Passkeys == nil {
		return
	}
	m.HandleFunc("GET "+pathPasskeys, h.passkeys)
	m.HandleFunc("POST "+pathPasskeyNew, h.passkeyNew)
	m.HandleFunc("POST "+pathPasskeyAdd, h.passkeyAdd)
	m.HandleFunc("POST "+pathPasskeyRename, h.passkeyRename)
	m.HandleFunc("POST "+pathPasskeyRemove, h.passkeyRemove)
}

func (h *Handler) passkeys(w http.ResponseWriter, r *http.Request) {
	sess, user := h.signedIn(w, r, pathPasskeys)
	if sess == nil {
		return
	}
	notice := ""
	switch r.URL.Query().Get("done") {
	case "added":
		notice = "Your passkey is added: you can sign in with it."
	case "removed":
		notice = "The passkey is removed: it no longer signs you in."
	case "renamed":
		notice = "The passkey is renamed."
	}
	h.renderPasskeys(w, r, http.StatusOK, sess, user, passkeysData{Notice: notice})
}

// passkeyPost is a POST of the passkeys page: a session and a good CSRF
// token, and, when recent, a sign-in in the last RecentSignIn.
func (h *Handler) passkeyPost(w http.ResponseWriter, r *http.Request, recent bool) (*storage.Session, *storage.User) {
	sess, user := h.signedIn(w, r, pathPasskeys)
	if sess == nil {
		return nil, nil
	}
	if !h.csrfOK(r, sess) {
		h.log.InfoContext(r.Context(), "account form refused", "reason", "csrf token mismatch", "path", r.URL.Path, "request_id", requestID(w, r))
		h.audit(r, storage.AuditPasskeyFailed, user.ID, map[string]string{"step": "account", "reason": "csrf token mismatch"})
		h.renderPasskeys(w, r, http.StatusForbidden, sess, user, passkeysData{
			Error: "This form has expired. Nothing was changed: please try again."})
		return nil, nil
	}
	if recent && !h.recentlySignedIn(w, r, sess, pathPasskeys) {
		return nil, nil
	}
	return sess, user
}

func (h *Handler) renderPasskeys(w http.ResponseWriter, r *http.Request, status int, sess *storage.Session, user *storage.User, d passkeysData) {
	pks, err := login.ListPasskeys(r.Context(), h.cfg.Credentials, user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	for _, pk := range pks {
		d.Passkeys = append(d.Passkeys, passkeyItem{ID: pk.ID, Name: pk.Name, Created: pk.CreatedAt, LastUsed: pk.LastUsedAt,
			Synced: pk.Flags.BackupState, HasBackup: pk.Flags.BackupEligible})
	}
	if d.Title == "" {
		d.Title = "Passkeys"
	}
	d.User, d.CSRF = user, h.csrfToken(sess.ID)
	d.L = page.Negotiate(preferredLanguage(r), r)
	var buf bytes.Buffer
	if err := h.pages.Execute(&buf, "passkeys.html", withNav(d, h.nav(r))); err != nil {
		h.log.Error("render page", "page", "passkeys", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	page.SecureHeaders(w.Header())
	if d.Nonce != "" {
		// The registration's script runs with this nonce only.
		w.Header().Set("Content-Security-Policy", page.CSP+"; script-src 'nonce-"+d.Nonce+"'")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (h *Handler) passkeyUser(r *http.Request, user *storage.User) (*login.PasskeyUser, error) {
	pks, err := login.ListPasskeys(r.Context(), h.cfg.Credentials, user.ID)
	if err != nil {
		return nil, err
	}
	return &login.PasskeyUser{ID: user.ID, Name: accountName(user), DisplayName: user.Name, Passkeys: pks}, nil
}

// passkeyName is the form's passkey name, cleaned; a bad one is answered
// on the page.
func (h *Handler) passkeyName(w http.ResponseWriter, r *http.Request, sess *storage.Session, user *storage.User) (string, bool) {
	name, err := login.CleanPasskeyName(r.PostFormValue("name"))
	if err != nil {
		h.renderPasskeys(w, r, http.StatusBadRequest, sess, user, passkeysData{
			Error: "Give the passkey a name of 1 to 64 characters, such as the device it is on."})
		return "", false
	}
	return name, true
}

// passkeyNew begins a registration.
func (h *Handler) passkeyNew(w http.ResponseWriter, r *http.Request) {
	sess, user := h.passkeyPost(w, r, true)
	if sess == nil {
		return
	}
	name, ok := h.passkeyName(w, r, sess, user)
	if !ok {
		return
	}
	pu, err := h.passkeyUser(r, user)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	opts, c, err := h.cfg.Passkeys.BeginRegistration(pu)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	sealed, err := h.sealCeremony(sess, c)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	h.renderPasskeys(w, r, http.StatusOK, sess, user, passkeysData{
		Title: "Add a passkey", Name: name, Options: string(opts), Ceremony: sealed,
		Nonce: hex.EncodeToString(nonce), Script: passkeyScript,
	})
}

// passkeyAdd verifies the authenticator's response and stores the passkey.
func (h *Handler) passkeyAdd(w http.ResponseWriter, r *http.Request) {
	sess, user := h.passkeyPost(w, r, true)
	if sess == nil {
		return
	}
	ctx := r.Context()
	fail := func(status int, reason, msg string) {
		h.log.InfoContext(ctx, "passkey not registered", "reason", reason, "user_id", user.ID, "request_id", requestID(w, r))
		h.audit(r, storage.AuditPasskeyFailed, user.ID, map[string]string{"step": "register", "reason": truncate(reason, 200)})
		h.renderPasskeys(w, r, status, sess, user, passkeysData{Error: msg})
	}
	name, err := login.CleanPasskeyName(r.PostFormValue("name"))
	if err != nil {
		fail(http.StatusBadRequest, "bad name: "+err.Error(), "Give the passkey a name of 1 to 64 characters, such as the device it is on.")
		return
	}
	c, err := h.openCeremony(sess, r.PostFormValue("ceremony"))
	if err != nil {
		fail(http.StatusBadRequest, err.Error(), "The passkey request expired or was already used. Nothing was added: please try again.")
		return
	}
	if err := h.cfg.UseOnce(ctx, "passkey:"+c.ID, c.Expires); errors.Is(err, storage.ErrAlreadyExists) {
		fail(http.StatusBadRequest, "ceremony replayed", "The passkey request expired or was already used. Nothing was added: please try again.")
		return
	} else if err != nil {
		h.serverError(w, r, err)
		return
	}
	pu, err := h.passkeyUser(r, user)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	pk, err := h.cfg.Passkeys.FinishRegistration(pu, c, []byte(r.PostFormValue("credential")), name)
	switch {
	case errors.Is(err, login.ErrPasskeyExpired):
		fail(http.StatusBadRequest, err.Error(), "The passkey request expired or was already used. Nothing was added: please try again.")
		return
	case errors.Is(err, login.ErrPasskeyOrigin):
		fail(http.StatusBadRequest, err.Error(), "The passkey was made for another website. Nothing was added.")
		return
	case err != nil:
		fail(http.StatusBadRequest, err.Error(), "The passkey could not be verified. Nothing was added: please try again.")
		return
	}
	cred, err := pk.Credential(user.ID, time.Now())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if err := h.cfg.Credentials.PutCredential(ctx, cred); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.audit(r, storage.AuditPasskeyRegistered, user.ID, map[string]string{"passkey": pk.ID[:min(len(pk.ID), 16)], "name": pk.Name})
	http.Redirect(w, r, pathPasskeys+"?done=added", http.StatusSeeOther)
}

// ownPasskey returns the user's passkey named by the form's "passkey".
func (h *Handler) ownPasskey(r *http.Request, user *storage.User) (*login.Passkey, []*login.Passkey, error) {
	pks, err := login.ListPasskeys(r.Context(), h.cfg.Credentials, user.ID)
	if err != nil {
		return nil, nil, err
	}
	i := slices.IndexFunc(pks, func(pk *login.Passkey) bool { return pk.ID == r.PostFormValue("passkey") })
	if i < 0 {
		return nil, pks, storage.ErrNotFound
	}
	return pks[i], pks, nil
}

func (h *Handler) passkeyRename(w http.ResponseWriter, r *http.Request) {
	sess, user := h.passkeyPost(w, r, false)
	if sess == nil {
		return
	}
	name, ok := h.passkeyName(w, r, sess, user)
	if !ok {
		return
	}
	pk, _, err := h.ownPasskey(r, user)
	if errors.Is(err, storage.ErrNotFound) {
		h.renderPasskeys(w, r, http.StatusNotFound, sess, user, passkeysData{Error: "That passkey is not one of yours."})
		return
	} else if err != nil {
		h.serverError(w, r, err)
		return
	}
	pk.Name = name
	cred, err := pk.Credential(user.ID, time.Now())
	if err == nil {
		err = h.cfg.Credentials.PutCredential(r.Context(), cred)
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, pathPasskeys+"?done=renamed", http.StatusSeeOther)
}

func (h *Handler) passkeyRemove(w http.ResponseWriter, r *http.Request) {
	sess, user := h.passkeyPost(w, r, true)
	if sess == nil {
		return
	}
	ctx := r.Context()
	pk, pks, err := h.ownPasskey(r, user)
	if errors.Is(err, storage.ErrNotFound) {
		// Not this user's, or removed meanwhile: the same answer for both.
		h.renderPasskeys(w, r, http.StatusNotFound, sess, user, passkeysData{Error: "That passkey is not one of yours."})
		return
	} else if err != nil {
		h.serverError(w, r, err)
		return
	}
	creds, err := h.cfg.Credentials.ListCredentials(ctx, user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	ids, err := h.cfg.Identities.ListIdentities(ctx, user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	hasPassword := slices.ContainsFunc(creds, func(c *storage.Credential) bool { return c.Type == storage.CredentialPassword })
	if len(pks) == 1 && !hasPassword && len(ids) == 0 {
		h.log.InfoContext(ctx, "passkey removal refused", "reason", "last way to sign in", "user_id", user.ID, "request_id", requestID(w, r))
		h.renderPasskeys(w, r, http.StatusConflict, sess, user, passkeysData{
			Error: "You cannot remove this passkey: it is your only way to sign in. Set a password or add another passkey first."})
		return
	}
	if err := h.cfg.Credentials.DeleteCredentialByID(ctx, user.ID, pk.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, err)
		return
	}
	if err := h.dropOrphanRecoveryCodes(ctx, user.ID); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.audit(r, storage.AuditPasskeyRemoved, user.ID, map[string]string{"passkey": pk.ID[:min(len(pk.ID), 16)], "name": pk.Name})
	http.Redirect(w, r, pathPasskeys+"?done=removed", http.StatusSeeOther)
}

// A registration's ceremony travels in the form, sealed with an HMAC that
// binds it to the SSO session: the browser can neither change it nor use
// it in another session. It holds no secret (the challenge is in the page
// anyway); UseOnce makes it single use.

func (h *Handler) ceremonyMAC(sess *storage.Session, payload string) []byte {
	mac := hmac.New(sha256.New, h.cfg.CSRFKey)
	mac.Write([]byte("passkey-ceremony\x00" + sess.ID + "\x00" + payload))
	return mac.Sum(nil)
}

func (h *Handler) sealCeremony(sess *storage.Session, c *login.Ceremony) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(h.ceremonyMAC(sess, payload)), nil
}

func (h *Handler) openCeremony(sess *storage.Session, sealed string) (*login.Ceremony, error) {
	payload, sig, ok := strings.Cut(sealed, ".")
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(mac, h.ceremonyMAC(sess, payload)) {
		return nil, errors.New("ceremony missing or not sealed for this session")
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, err
	}
	c := &login.Ceremony{}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, err
	}
	return c, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
