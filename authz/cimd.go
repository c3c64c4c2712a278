package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/storage"
)

// Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document,
// the way MCP clients identify themselves): a client ID that is an https
// URL names a JSON document of the client's metadata (RFC 7591 §2). The
// provider fetches it when it meets the client ID, checks it as it checks
// a dynamic registration, and caches it. Nothing is stored: a document
// client lives in the cache, and every lookup of a client by ID (token,
// introspection, revocation, consent, logout) resolves it the same way,
// through documentClients.
//
// Such a client is treated like one registered anonymously: never first
// party (consent is asked), PKCE required, refresh tokens capped at
// Registration.AnonymousRefreshTokenLifespan, no account API scopes, and
// only public clients (token_endpoint_auth_method none) or private_key_jwt
// ones: there is no way to share a secret. The consent page shows the
// client ID's host besides the name the document gives.

// ClientIDMetadataDocuments configures client ID metadata documents. Its
// zero value turns them off; zero durations and sizes take the defaults.
type ClientIDMetadataDocuments struct {
	Enabled bool
	// AllowPrivateNetwork lets documents and their jwks_uri be fetched
	// from loopback, private and link-local addresses. Off, only public
	// addresses are dialled (checked on the address dialled, after DNS),
	// so a client ID cannot make the provider reach into its network.
	AllowPrivateNetwork bool
	// CacheTTL is how long a document is kept when its response has no
	// Cache-Control max-age; default 5m. MinCacheTTL and MaxCacheTTL
	// bound max-age (and no-store); defaults 1m and 24h.
	CacheTTL, MinCacheTTL, MaxCacheTTL time.Duration
	// FailureCacheTTL is how long a failed fetch or a refused document is
	// remembered, so a bad client ID does not cost a fetch per request;
	// default 30s.
	FailureCacheTTL time.Duration
	// MaxBytes is the largest document read; default 5 KiB.
	MaxBytes int64
	// Timeout bounds a fetch, body included; default 5s.
	Timeout time.Duration
}

func (m *ClientIDMetadataDocuments) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&m.CacheTTL, 5*time.Minute)
	def(&m.MinCacheTTL, time.Minute)
	def(&m.MaxCacheTTL, 24*time.Hour)
	def(&m.FailureCacheTTL, 30*time.Second)
	def(&m.Timeout, 5*time.Second)
	if m.MaxBytes <= 0 {
		m.MaxBytes = 5 << 10
	}
}

// registrationDocument is storage.Client.Registration of a client resolved
// from its client ID metadata document.
const registrationDocument = "metadata_document"

const (
	// maxClientIDURL bounds a client ID URL.
	maxClientIDURL = 2048
	// maxDocumentJWKS bounds the key set a document's jwks_uri names.
	maxDocumentJWKS = 64 << 10
	// maxCachedDocuments bounds the cache; past it the cache starts over.
	maxCachedDocuments = 10000
	// maxDocumentFetches bounds the fetches under way: a flood of new
	// client IDs is refused past it rather than fetched.
	maxDocumentFetches = 64
)

// isDocumentClientID reports whether id names a client ID metadata
// document. Other client IDs never start with https://.
func isDocumentClientID(id string) bool { return strings.HasPrefix(id, "https://") }

// isDocumentClient reports whether fc was resolved from a document.
func isDocumentClient(fc fosite.Client) bool {
	cl, ok := fc.(*client)
	return ok && cl.c.Registration == registrationDocument
}

// documentHost is the host of a document client's ID, shown on the
// consent page next to the name the document claims; "" for other
// clients.
func documentHost(c *storage.Client) string {
	if c == nil || c.Registration != registrationDocument {
		return ""
	}
	u, err := url.Parse(c.ID)
	if err != nil {
		return ""
	}
	return u.Host
}

// documentError is why a client ID metadata document cannot be used. It
// counts as storage.ErrNotFound for the code that only needs to know
// whether the client exists (logout, consent pages); the OAuth endpoints
// answer invalid_client with it as the debug text.
type documentError struct{ reason string }

func (e *documentError) Error() string { return "client ID metadata document: " + e.reason }

func (e *documentError) Is(target error) bool { return target == storage.ErrNotFound }

func docErr(format string, args ...any) error {
	return &documentError{fmt.Sprintf(format, args...)}
}

// checkClientIDURL applies the draft's rules to a client ID URL: https, a
// host, a path, no fragment, no user info, no dot segments.
func checkClientIDURL(id string) error {
	if len(id) > maxClientIDURL {
		return docErr("the client ID is longer than %d bytes", maxClientIDURL)
	}
	u, err := url.Parse(id)
	switch {
	case err != nil || u.Scheme != "https" || u.Opaque != "":
		return docErr("the client ID is not an https URL")
	case u.Host == "" || u.Hostname() == "":
		return docErr("the client ID has no host")
	case u.User != nil:
		return docErr("the client ID must not contain user info")
	case u.Fragment != "" || strings.Contains(id, "#"):
		return docErr("the client ID must not contain a fragment")
	case u.Path == "" || u.EscapedPath() == "":
		return docErr("the client ID has no path")
	case strings.ContainsFunc(u.Host, notOriginChar):
		return docErr("the client ID's host is not a name or an address")
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		switch strings.ToLower(seg) {
		case ".", "..", "%2e", "%2e%2e", ".%2e", "%2e.":
			return docErr("the client ID must not contain dot segments")
		}
	}
	return nil
}

// cimdResolver fetches, checks and caches client ID metadata documents.
// Concurrent lookups of one client ID share one fetch.
type cimdResolver struct {
	cfg   ClientIDMetadataDocuments
	http  *http.Client
	now   func() time.Time
	apply func(c *storage.Client, md *clientMetadata) error

	// fetching holds a token per fetch under way (maxDocumentFetches).
	fetching chan struct{}

	mu    sync.Mutex
	cache map[string]cachedDocument
	calls map[string]*documentCall
}

type cachedDocument struct {
	c   *storage.Client
	err error
	exp time.Time
}

// documentCall is a fetch under way; done is closed when c and err are set.
type documentCall struct {
	done chan struct{}
	c    *storage.Client
	err  error
}

// documentPolicy is what a document may ask for, checked by
// applyClientMetadata as a registration is: no grant but the code flow
// (and refresh), no shared secret.
var documentPolicy = Registration{
	AllowedGrantTypes:  []string{config.GrantAuthorizationCode, config.GrantRefreshToken},
	AllowedAuthMethods: []string{config.AuthNone, config.AuthPrivateKeyJWT},
}

// enableDocumentClients makes the provider resolve https client IDs from
// their documents when Config.ClientIDMetadata is on.
func (p *Provider) enableDocumentClients(store *fositeStore) {
	m := p.cfg.ClientIDMetadata
	if !m.Enabled {
		return
	}
	r := &cimdResolver{
		cfg: m, http: outboundClient(m.Timeout, !m.AllowPrivateNetwork), now: p.cfg.Now,
		cache: map[string]cachedDocument{}, calls: map[string]*documentCall{}, fetching: make(chan struct{}, maxDocumentFetches),
	}
	pol := documentPolicy
	r.apply = func(c *storage.Client, md *clientMetadata) error { return p.applyClientMetadata(&pol, c, md) }
	p.stores.Clients = documentClients{ClientStore: p.stores.Clients, docs: r}
	store.clients = p.stores.Clients
	store.docRefresh = p.cfg.Registration.AnonymousRefreshTokenLifespan
}

// documentClients is a ClientStore that resolves https client IDs from
// their documents and passes every other call to the stored clients.
type documentClients struct {
	storage.ClientStore
	docs *cimdResolver
}

func (d documentClients) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if isDocumentClientID(id) {
		return d.docs.client(ctx, id)
	}
	return d.ClientStore.GetClient(ctx, id)
}

// client returns the client of the document at id, from the cache or
// fetched. A client ID that is not a valid URL is refused without a
// fetch or a cache entry.
func (r *cimdResolver) client(ctx context.Context, id string) (*storage.Client, error) {
	if err := checkClientIDURL(id); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if e, ok := r.cache[id]; ok && r.now().Before(e.exp) {
		r.mu.Unlock()
		return e.c, e.err
	}
	call, ok := r.calls[id]
	if !ok {
		select {
		case r.fetching <- struct{}{}:
		default:
			r.mu.Unlock()
			return nil, docErr("too many documents are being fetched")
		}
		call = &documentCall{done: make(chan struct{})}
		r.calls[id] = call
		// Fetched apart from the request: a waiter that goes away does
		// not fail the others.
		go r.resolve(id, call)
	}
	r.mu.Unlock()
	select {
	case <-call.done:
		return call.c, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *cimdResolver) resolve(id string, call *documentCall) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	c, ttl, err := r.fetchClient(ctx, id)
	if err != nil {
		ttl = r.cfg.FailureCacheTTL
	}
	call.c, call.err = c, err
	r.mu.Lock()
	if len(r.cache) >= maxCachedDocuments {
		r.cache = map[string]cachedDocument{}
	}
	r.cache[id] = cachedDocument{c: c, err: err, exp: r.now().Add(ttl)}
	delete(r.calls, id)
	r.mu.Unlock()
	<-r.fetching
	close(call.done)
}

// fetchClient fetches and checks the document at id and returns its
// client and how long it may be cached.
func (r *cimdResolver) fetchClient(ctx context.Context, id string) (*storage.Client, time.Duration, error) {
	body, h, err := r.get(ctx, id, r.cfg.MaxBytes)
	if err != nil {
		return nil, 0, err
	}
	c, err := r.check(id, body)
	if err != nil {
		return nil, 0, err
	}
	if c.JWKSURI != "" {
		// Fetched here, through the same guarded client, and kept with
		// the document: fosite would fetch it with its own.
		keys, _, err := r.get(ctx, c.JWKSURI, maxDocumentJWKS)
		var de *documentError
		if errors.As(err, &de) {
			return nil, 0, docErr("jwks_uri: %s", de.reason)
		}
		if err := config.CheckJWKS(keys); err != nil {
			return nil, 0, docErr("the key set at jwks_uri: %v", err)
		}
		c.JWKS, c.JWKSURI = keys, ""
	}
	return c, r.lifetime(h), nil
}

// check decodes a document and applies the draft's rules and the
// registration checks to it.
func (r *cimdResolver) check(id string, body []byte) (*storage.Client, error) {
	var md clientMetadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, docErr("the document is not a JSON object of client metadata: %s", jsonProblem(err))
	}
	var secrets struct {
		ExpiresAt json.RawMessage `json:"client_secret_expires_at"`
	}
	_ = json.Unmarshal(body, &secrets)
	switch {
	case md.ClientID != id:
		return nil, docErr("the document's client_id is not the URL it was fetched from")
	case md.ClientSecret != "" || len(secrets.ExpiresAt) > 0:
		return nil, docErr("a document must not contain client_secret or client_secret_expires_at")
	case len(md.RedirectURIs) == 0:
		return nil, docErr("the document has no redirect_uris")
	case md.SectorIdentifierURI != "":
		// Its document is fetched and checked at registration only; a
		// pairwise document client's sector is its redirect URIs' host.
		return nil, docErr("sector_identifier_uri is not supported in a client ID metadata document")
	}
	if string(md.JWKS) == "null" {
		md.JWKS = nil
	}
	if md.TokenEndpointAuthMethod == "" {
		// RFC 7591's default, client_secret_basic, cannot apply: there is
		// no secret to share.
		md.TokenEndpointAuthMethod = config.AuthNone
	}
	c := &storage.Client{ID: id, Registration: registrationDocument}
	if err := r.apply(c, &md); err != nil {
		var re *registrationError
		if errors.As(err, &re) {
			return nil, docErr("%s", strings.TrimSuffix(re.desc, "."))
		}
		return nil, docErr("%v", err)
	}
	c.FirstParty = false
	c.SecretHash = nil
	return c, nil
}

// get fetches url: no redirect followed, 200 with a JSON content type
// only, at most limit bytes read.
func (r *cimdResolver) get(ctx context.Context, u string, limit int64) ([]byte, http.Header, error) {
	body, h, err := outboundGet(ctx, r.http, u, "application/json", limit)
	if err != nil {
		return nil, nil, docErr("%v", err)
	}
	if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil ||
		mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return nil, nil, docErr("the server did not answer with JSON (Content-Type application/json)")
	}
	return body, h, nil
}

// lifetime is how long a document is cached: its Cache-Control max-age
// (no-store and no-cache count as 0), or CacheTTL without one, bounded
// by MinCacheTTL and MaxCacheTTL.
func (r *cimdResolver) lifetime(h http.Header) time.Duration {
	ttl := r.cfg.CacheTTL
	noStore := false
	for _, d := range strings.Split(h.Get("Cache-Control"), ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			noStore = true
		case strings.HasPrefix(d, "max-age="):
			if n, err := strconv.ParseInt(strings.Trim(d[len("max-age="):], `"`), 10, 64); err == nil && n >= 0 {
				ttl = time.Duration(min(n, int64(r.cfg.MaxCacheTTL/time.Second)+1)) * time.Second
			}
		}
	}
	if noStore {
		ttl = 0
	}
	return max(r.cfg.MinCacheTTL, min(ttl, r.cfg.MaxCacheTTL))
}
