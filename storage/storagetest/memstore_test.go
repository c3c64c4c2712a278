package storagetest_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
	"github.com/atrium-id/atrium/storage/storagetest"
)

// TestMemStore runs the suite against memStore, a reference store kept to
// the contract so the suite itself is checked without a database.
func TestMemStore(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, clock *storagetest.Clock) storagetest.Store {
		return newMemStore(clock.Now)
	})
}

// TestMemStoreState runs the state part of the suite on its own, as a
// backend holding only the short-lived state sees it.
func TestMemStoreState(t *testing.T) {
	storagetest.RunState(t, func(t *testing.T, clock *storagetest.Clock) storage.StateStore {
		return newMemStore(clock.Now)
	})
}

type credKey struct{ user, typ, id string }
type consentKey struct{ user, client string }
type tokenKey struct {
	kind storage.TokenKind
	sig  string
}

// memStore keeps every record in maps under one lock; records are copied
// in and out and times normalised as a database backend would.
type memStore struct {
	now        func() time.Time
	mu         sync.Mutex
	clients    map[string]storage.Client
	users      map[string]storage.User
	creds      map[credKey]storage.Credential
	identities map[string]storage.Identity
	consents   map[consentKey]storage.Consent
	keys       map[string]storage.SigningKey
	sessions   map[string]storage.Session
	inters     map[string]storage.Interaction
	tokens     map[tokenKey]storage.Token
	once       map[string]time.Time
	counters   map[string]counter
	audit      map[string]storage.AuditEvent
	auditSeq   int
	ledger     []storage.ConsentEvent // in the order appended
	prefs      map[string]storage.Preferences
}

type counter struct {
	n   int64
	exp time.Time
}

func newMemStore(now func() time.Time) *memStore {
	return &memStore{
		now:        now,
		clients:    map[string]storage.Client{},
		users:      map[string]storage.User{},
		creds:      map[credKey]storage.Credential{},
		identities: map[string]storage.Identity{},
		consents:   map[consentKey]storage.Consent{},
		keys:       map[string]storage.SigningKey{},
		sessions:   map[string]storage.Session{},
		inters:     map[string]storage.Interaction{},
		tokens:     map[tokenKey]storage.Token{},
		once:       map[string]time.Time{},
		counters:   map[string]counter{},
		prefs:      map[string]storage.Preferences{},
		audit:      map[string]storage.AuditEvent{},
	}
}

func norm(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func (s *memStore) expired(exp time.Time) bool { return !norm(exp).After(norm(s.now())) }

// page lists the records of m (keyed by ID) after p.After, in ID order.
func page[T any](m map[string]T, p storage.Page) ([]*T, string) {
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var out []*T
	last := ""
	for _, id := range slices.Sorted(maps.Keys(m)) {
		if id <= p.After {
			continue
		}
		if len(out) == limit {
			return out, last
		}
		v := m[id]
		out = append(out, &v)
		last = id
	}
	return out, ""
}

func (s *memStore) CreateClient(_ context.Context, c *storage.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return storage.ErrAlreadyExists
	}
	s.clients[c.ID] = normClient(*c)
	return nil
}

func normClient(c storage.Client) storage.Client {
	c.CreatedAt, c.UpdatedAt = norm(c.CreatedAt), norm(c.UpdatedAt)
	return c
}

func (s *memStore) GetClient(_ context.Context, id string) (*storage.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return &c, nil
}

func (s *memStore) UpdateClient(_ context.Context, c *storage.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; !ok {
		return storage.ErrNotFound
	}
	s.clients[c.ID] = normClient(*c)
	return nil
}

func (s *memStore) DeleteClient(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.clients, id)
	return nil
}

func (s *memStore) ListClients(_ context.Context, p storage.Page) ([]*storage.Client, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, next := page(s.clients, p)
	return out, next, nil
}

func (s *memStore) emailTaken(email, except string) bool {
	for id, u := range s.users {
		if id != except && email != "" && u.Email == email {
			return true
		}
	}
	return false
}

func normUser(u storage.User) storage.User {
	u.Email = strings.ToLower(u.Email)
	u.CreatedAt, u.UpdatedAt = norm(u.CreatedAt), norm(u.UpdatedAt)
	u.Attributes = maps.Clone(u.Attributes)
	return u
}

func (s *memStore) CreateUser(_ context.Context, u *storage.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := normUser(*u)
	if _, ok := s.users[u.ID]; ok || s.emailTaken(n.Email, "") {
		return storage.ErrAlreadyExists
	}
	s.users[u.ID] = n
	return nil
}

func (s *memStore) GetUser(_ context.Context, id string) (*storage.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	u.Attributes = maps.Clone(u.Attributes)
	return &u, nil
}

func (s *memStore) GetUserByEmail(_ context.Context, email string) (*storage.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if email != "" && u.Email == strings.ToLower(email) {
			return &u, nil
		}
	}
	return nil, storage.ErrNotFound
}

func (s *memStore) UpdateUser(_ context.Context, u *storage.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; !ok {
		return storage.ErrNotFound
	}
	n := normUser(*u)
	if s.emailTaken(n.Email, u.ID) {
		return storage.ErrAlreadyExists
	}
	s.users[u.ID] = n
	return nil
}

func (s *memStore) DeleteUser(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.users, id)
	maps.DeleteFunc(s.creds, func(k credKey, _ storage.Credential) bool { return k.user == id })
	maps.DeleteFunc(s.identities, func(_ string, i storage.Identity) bool { return i.UserID == id })
	maps.DeleteFunc(s.consents, func(k consentKey, _ storage.Consent) bool { return k.user == id })
	s.ledger = slices.DeleteFunc(s.ledger, func(e storage.ConsentEvent) bool { return e.UserID == id })
	delete(s.prefs, id)
	maps.DeleteFunc(s.sessions, func(_ string, x storage.Session) bool { return x.UserID == id })
	return nil
}

func (s *memStore) ListUsers(_ context.Context, p storage.Page) ([]*storage.User, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, next := page(s.users, p)
	return out, next, nil
}

func (s *memStore) PutCredential(_ context.Context, c *storage.Credential) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case c.UserID == "" || c.Type == "":
		return errors.New("credential without user or type")
	case c.Type == storage.CredentialPasskey:
		if c.ID == "" {
			return errors.New("passkey without ID")
		}
	default:
		c.ID = c.UserID + ":" + c.Type
	}
	n := *c
	n.CreatedAt, n.UpdatedAt = norm(n.CreatedAt), norm(n.UpdatedAt)
	k := credKey{c.UserID, c.Type, c.ID}
	if old, ok := s.creds[k]; ok {
		n.CreatedAt = old.CreatedAt
	}
	s.creds[k] = n
	return nil
}

// userCreds returns the user's credentials ordered by CreatedAt then ID.
func (s *memStore) userCreds(userID string) []*storage.Credential {
	out := []*storage.Credential{}
	for k, c := range s.creds {
		if k.user == userID {
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *storage.Credential) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func (s *memStore) GetCredential(_ context.Context, userID, typ string) (*storage.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.userCreds(userID) {
		if c.Type == typ {
			return c, nil
		}
	}
	return nil, storage.ErrNotFound
}

func (s *memStore) DeleteCredential(_ context.Context, userID, typ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.creds)
	maps.DeleteFunc(s.creds, func(k credKey, _ storage.Credential) bool { return k.user == userID && k.typ == typ })
	if n == len(s.creds) {
		return storage.ErrNotFound
	}
	return nil
}

func (s *memStore) ListCredentials(_ context.Context, userID string) ([]*storage.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userCreds(userID), nil
}

func (s *memStore) DeleteCredentialByID(_ context.Context, userID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.creds)
	maps.DeleteFunc(s.creds, func(k credKey, _ storage.Credential) bool { return k.user == userID && k.id == id })
	if n == len(s.creds) {
		return storage.ErrNotFound
	}
	return nil
}

func (s *memStore) AppendAudit(_ context.Context, e *storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = norm(e.Time)
	if e.ID == "" {
		s.auditSeq++
		e.ID = fmt.Sprintf("%016x%08x", e.Time.UnixMicro(), s.auditSeq)
	}
	if _, ok := s.audit[e.ID]; ok {
		return storage.ErrAlreadyExists
	}
	n := *e
	n.Detail = maps.Clone(e.Detail)
	s.audit[e.ID] = n
	return nil
}

func (s *memStore) ListAudit(_ context.Context, userID string, p storage.Page) ([]*storage.AuditEvent, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var out []*storage.AuditEvent
	for _, id := range slices.Backward(slices.Sorted(maps.Keys(s.audit))) {
		e := s.audit[id]
		if (p.After != "" && id >= p.After) || (userID != "" && e.UserID != userID) {
			continue
		}
		if len(out) == limit {
			return out, out[limit-1].ID, nil
		}
		e.Detail = maps.Clone(e.Detail)
		out = append(out, &e)
	}
	return out, "", nil
}

func (s *memStore) PruneAudit(_ context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.audit)
	maps.DeleteFunc(s.audit, func(_ string, e storage.AuditEvent) bool { return e.Time.Before(norm(before)) })
	return n - len(s.audit), nil
}

func normIdentity(i storage.Identity) storage.Identity {
	i.CreatedAt, i.UpdatedAt = norm(i.CreatedAt), norm(i.UpdatedAt)
	return i
}

func (s *memStore) CreateIdentity(_ context.Context, i *storage.Identity) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.identities[i.ID]; ok {
		return storage.ErrAlreadyExists
	}
	for _, x := range s.identities {
		if x.Provider == i.Provider && x.Subject == i.Subject {
			return storage.ErrAlreadyExists
		}
	}
	s.identities[i.ID] = normIdentity(*i)
	return nil
}

func (s *memStore) GetIdentity(_ context.Context, provider, subject string) (*storage.Identity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.identities {
		if x.Provider == provider && x.Subject == subject {
			return &x, nil
		}
	}
	return nil, storage.ErrNotFound
}

func (s *memStore) ListIdentities(_ context.Context, userID string) ([]*storage.Identity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*storage.Identity
	for _, x := range s.identities {
		if x.UserID == userID {
			out = append(out, &x)
		}
	}
	return out, nil
}

func (s *memStore) UpdateIdentity(_ context.Context, i *storage.Identity) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.identities[i.ID]; !ok {
		return storage.ErrNotFound
	}
	s.identities[i.ID] = normIdentity(*i)
	return nil
}

func (s *memStore) DeleteIdentity(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.identities[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.identities, id)
	return nil
}

func (s *memStore) GetConsent(_ context.Context, userID, clientID string) (*storage.Consent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.consents[consentKey{userID, clientID}]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return &c, nil
}

func (s *memStore) PutConsent(_ context.Context, c *storage.Consent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := *c
	n.CreatedAt, n.UpdatedAt = norm(n.CreatedAt), norm(n.UpdatedAt)
	s.consents[consentKey{c.UserID, c.ClientID}] = n
	return nil
}

func (s *memStore) DeleteConsent(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.consents[consentKey{userID, clientID}]; !ok {
		return storage.ErrNotFound
	}
	delete(s.consents, consentKey{userID, clientID})
	return nil
}

func (s *memStore) ListConsents(_ context.Context, userID string) ([]*storage.Consent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*storage.Consent
	for k, c := range s.consents {
		if k.user == userID {
			out = append(out, &c)
		}
	}
	return out, nil
}

func (s *memStore) AppendConsentEvent(_ context.Context, e *storage.ConsentEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.At.IsZero() {
		e.At = s.now()
	}
	e.At = norm(e.At)
	if e.ID == "" {
		s.auditSeq++
		e.ID = fmt.Sprintf("%016x%08x", e.At.UnixMicro(), s.auditSeq)
	}
	n := *e
	n.Scopes = slices.Clone(e.Scopes)
	s.ledger = append(s.ledger, n)
	return nil
}

func (s *memStore) ListConsentEvents(_ context.Context, userID string) ([]*storage.ConsentEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []*storage.ConsentEvent{}
	for _, e := range s.ledger {
		if e.UserID == userID {
			out = append(out, &e)
		}
	}
	slices.SortStableFunc(out, func(a, b *storage.ConsentEvent) int { return a.At.Compare(b.At) })
	return out, nil
}

func (s *memStore) ListKeys(_ context.Context) ([]*storage.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*storage.SigningKey
	for _, k := range s.keys {
		if k.NotAfter.IsZero() || !s.expired(k.NotAfter) {
			out = append(out, &k)
		}
	}
	slices.SortFunc(out, func(a, b *storage.SigningKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (s *memStore) RotateKey(_ context.Context, next *storage.SigningKey, retireAfter time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[next.ID]; ok {
		return storage.ErrAlreadyExists
	}
	for id, k := range s.keys {
		if k.Status == storage.KeyActive && k.Algorithm == next.Algorithm {
			k.Status, k.NotAfter = storage.KeyRetired, norm(retireAfter)
			s.keys[id] = k
		}
	}
	n := *next
	n.Status, n.CreatedAt, n.NotAfter = storage.KeyActive, norm(n.CreatedAt), time.Time{}
	s.keys[n.ID] = n
	return nil
}

func (s *memStore) DeleteKey(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.keys, id)
	return nil
}

func (s *memStore) PutSession(_ context.Context, x *storage.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := *x
	n.AuthTime, n.CreatedAt, n.ExpiresAt = norm(n.AuthTime), norm(n.CreatedAt), norm(n.ExpiresAt)
	s.sessions[x.ID] = n
	return nil
}

func (s *memStore) GetSession(_ context.Context, id string) (*storage.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.sessions[id]
	if !ok || s.expired(x.ExpiresAt) {
		return nil, storage.ErrNotFound
	}
	return &x, nil
}

func (s *memStore) DeleteSession(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.sessions, id)
	return nil
}

func (s *memStore) ListUserSessions(_ context.Context, userID string) ([]*storage.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*storage.Session
	for _, x := range s.sessions {
		if x.UserID == userID && !s.expired(x.ExpiresAt) {
			out = append(out, &x)
		}
	}
	return out, nil
}

func (s *memStore) AddSessionClient(_ context.Context, id, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.sessions[id]
	if !ok || s.expired(x.ExpiresAt) {
		return storage.ErrNotFound
	}
	if !slices.Contains(x.Clients, clientID) {
		x.Clients = append(slices.Clone(x.Clients), clientID)
		s.sessions[id] = x
	}
	return nil
}

func (s *memStore) DeleteUserSessions(_ context.Context, userID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.sessions)
	maps.DeleteFunc(s.sessions, func(_ string, x storage.Session) bool { return x.UserID == userID })
	return n - len(s.sessions), nil
}

func (s *memStore) PutInteraction(_ context.Context, i *storage.Interaction) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := *i
	n.ExpiresAt = norm(n.ExpiresAt)
	s.inters[i.ID] = n
	return nil
}

func (s *memStore) GetInteraction(_ context.Context, id string) (*storage.Interaction, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.inters[id]
	if !ok || s.expired(i.ExpiresAt) {
		return nil, storage.ErrNotFound
	}
	return &i, nil
}

func (s *memStore) DeleteInteraction(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.inters[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.inters, id)
	return nil
}

func (s *memStore) CreateToken(_ context.Context, t *storage.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tokenKey{t.Kind, t.Signature}
	if _, ok := s.tokens[k]; ok {
		return storage.ErrAlreadyExists
	}
	n := *t
	n.CreatedAt, n.ExpiresAt = norm(n.CreatedAt), norm(n.ExpiresAt)
	s.tokens[k] = n
	return nil
}

func (s *memStore) WriteTokens(ctx context.Context, create []*storage.Token, del []storage.TokenRef) error {
	for _, t := range create {
		if err := s.CreateToken(ctx, t); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range del {
		delete(s.tokens, tokenKey{d.Kind, d.Signature})
	}
	return nil
}

func (s *memStore) GetToken(_ context.Context, kind storage.TokenKind, sig string) (*storage.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[tokenKey{kind, sig}]
	if !ok || s.expired(t.ExpiresAt) {
		return nil, storage.ErrNotFound
	}
	return &t, nil
}

func (s *memStore) DeleteToken(_ context.Context, kind storage.TokenKind, sig string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tokens[tokenKey{kind, sig}]; !ok {
		return storage.ErrNotFound
	}
	delete(s.tokens, tokenKey{kind, sig})
	return nil
}

func (s *memStore) DeactivateToken(_ context.Context, kind storage.TokenKind, sig string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[tokenKey{kind, sig}]
	switch {
	case !ok || s.expired(t.ExpiresAt):
		return storage.ErrNotFound
	case !t.Active:
		return storage.ErrConflict
	}
	t.Active, t.Data = false, nil
	s.tokens[tokenKey{kind, sig}] = t
	return nil
}

func (s *memStore) RevokeTokens(_ context.Context, kind storage.TokenKind, requestID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, t := range s.tokens {
		if k.kind == kind && t.RequestID == requestID {
			delete(s.tokens, k)
			n++
		}
	}
	return n, nil
}

func (s *memStore) UseOnce(_ context.Context, key string, exp time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.once[key]; ok && !s.expired(old) {
		return storage.ErrAlreadyExists
	}
	s.once[key] = norm(exp)
	return nil
}

func (s *memStore) RevokeSubjectTokens(_ context.Context, subject string) (int, error) {
	return s.revokeWhere(func(t storage.Token) bool { return t.Subject == subject }), nil
}

func (s *memStore) RevokeClientTokens(_ context.Context, clientID string) (int, error) {
	return s.revokeWhere(func(t storage.Token) bool { return t.ClientID == clientID }), nil
}

func (s *memStore) RevokeUserClientTokens(_ context.Context, subject, clientID string) (int, error) {
	return s.revokeWhere(func(t storage.Token) bool { return t.Subject == subject && t.ClientID == clientID }), nil
}

func (s *memStore) RevokeSessionTokens(_ context.Context, subject, sid string) (int, error) {
	return s.revokeWhere(func(t storage.Token) bool { return sid != "" && t.Subject == subject && t.SessionID == sid }), nil
}

func (s *memStore) revokeWhere(match func(storage.Token) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.tokens)
	maps.DeleteFunc(s.tokens, func(_ tokenKey, t storage.Token) bool { return match(t) })
	return n - len(s.tokens)
}

func (s *memStore) Hit(_ context.Context, key string, window time.Duration) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counters[key]
	if !ok || s.expired(c.exp) {
		now := s.now()
		c = counter{exp: norm(now.Add(window))}
	}
	c.n++
	s.counters[key] = c
	return c.n, nil
}

func (s *memStore) Fail(_ context.Context, key string, window time.Duration) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counters[key]
	if !ok || s.expired(c.exp) {
		c = counter{}
	}
	c.n++
	c.exp = norm(s.now().Add(window))
	s.counters[key] = c
	return c.n, nil
}

func (s *memStore) Failures(_ context.Context, key string, window time.Duration) (int64, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counters[key]
	if !ok || s.expired(c.exp) {
		return 0, time.Time{}, nil
	}
	return c.n, c.exp.Add(-window), nil
}

func (s *memStore) ClearFailures(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.counters, key)
	return nil
}

func (s *memStore) Ping(context.Context) error { return nil }

func (s *memStore) GetPreferences(_ context.Context, userID string) (*storage.Preferences, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.prefs[userID]
	if !ok {
		return &storage.Preferences{UserID: userID}, nil
	}
	p.OptIns = copyOptIns(p.OptIns)
	return &p, nil
}

func (s *memStore) PutPreferences(_ context.Context, p *storage.Preferences) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = s.now()
	}
	p.UpdatedAt = norm(p.UpdatedAt)
	n := *p
	n.OptIns = copyOptIns(p.OptIns)
	s.prefs[p.UserID] = n
	return nil
}

// copyOptIns copies m without the purposes that have no channels; nil
// when none is left.
func copyOptIns(m map[string][]string) map[string][]string {
	var out map[string][]string
	for k, v := range m {
		if len(v) > 0 {
			if out == nil {
				out = map[string][]string{}
			}
			out[k] = slices.Compact(slices.Sorted(slices.Values(v)))
		}
	}
	return out
}
