package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
)

// Client key sets published at a jwks_uri (private_key_jwt assertions,
// request objects) are fetched by jwksFetcher instead of fosite's default
// fetcher, which retries for seconds, reads answers of any size and dials
// any address. Here:
//
//   - a fetch is one GET, bounded by jwksTimeout, following no redirect,
//     reading at most jwksMaxBytes;
//   - a client registered over HTTP (or described by a document the
//     provider fetched) has its keys fetched from public addresses only
//     (outboundClient), unless Registration.AllowPrivateNetwork: its
//     jwks_uri must not make the provider reach into its own network.
//     The operator's clients are not limited;
//   - sets are cached for jwksTTL; a set without the key ID a JWS names is
//     fetched again, but not more often than jwksRefetch per URI, so a
//     client cannot make every request a fetch by naming unknown key IDs.
const (
	jwksTimeout  = 5 * time.Second
	jwksMaxBytes = 64 << 10
	jwksTTL      = time.Hour
	jwksRefetch  = time.Second
	// jwksMaxCached bounds the cache; when full, expired sets go first,
	// then it starts over.
	jwksMaxCached = 10000
)

type jwksFetcher struct {
	client, public *http.Client
	// limited says the clients registered over HTTP fetch from public
	// addresses only.
	limited bool
	now     func() time.Time

	mu    sync.Mutex
	cache map[string]*jwksEntry
}

type jwksEntry struct {
	set     *josev3.JSONWebKeySet
	fetched time.Time
}

func newJWKSFetcher(limited bool, now func() time.Time) *jwksFetcher {
	return &jwksFetcher{
		client:  outboundClient(jwksTimeout, false),
		public:  outboundClient(jwksTimeout, true),
		limited: limited,
		now:     now,
		cache:   map[string]*jwksEntry{},
	}
}

// Resolve implements fosite.JWKSFetcherStrategy. fosite calls it while it
// authenticates a client it has just read, so the request's memo holds
// that client: whether the fetch is limited follows from it. A location
// no operator's client of this request names is fetched as a registered
// client's would be.
func (f *jwksFetcher) Resolve(ctx context.Context, location string, ignoreCache bool) (*josev3.JSONWebKeySet, error) {
	trusted := false
	if m := memoOf(ctx); m != nil {
		for _, cl := range m.clients {
			if cl.c.JWKSURI == location && operatorClient(cl) {
				trusted = true
				break
			}
		}
	}
	set, err := f.resolve(ctx, location, ignoreCache, !trusted)
	if err != nil {
		return nil, fosite.ErrInvalidClient.WithHint("The client's key set could not be fetched from its jwks_uri.").WithWrap(err).WithDebug(err.Error())
	}
	return set, nil
}

// operatorClient reports whether the operator registered the client (its
// URIs are trusted as configuration is).
func operatorClient(cl *client) bool { return cl.c.Registration == "" }

// keysOf fetches the key set of cl's jwks_uri.
func (f *jwksFetcher) keysOf(ctx context.Context, cl *client, ignoreCache bool) (*josev3.JSONWebKeySet, error) {
	return f.resolve(ctx, cl.c.JWKSURI, ignoreCache, !operatorClient(cl))
}

func (f *jwksFetcher) resolve(ctx context.Context, location string, ignoreCache, registered bool) (*josev3.JSONWebKeySet, error) {
	now := f.now()
	f.mu.Lock()
	e := f.cache[location]
	f.mu.Unlock()
	if e != nil {
		age := now.Sub(e.fetched)
		if age < jwksTTL && (!ignoreCache || age < jwksRefetch) {
			return e.set, nil
		}
	}
	hc := f.client
	if registered && f.limited {
		hc = f.public
	}
	set, err := fetchJWKS(ctx, hc, location)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if len(f.cache) >= jwksMaxCached {
		for k, v := range f.cache {
			if now.Sub(v.fetched) >= jwksTTL {
				delete(f.cache, k)
			}
		}
		if len(f.cache) >= jwksMaxCached {
			clear(f.cache)
		}
	}
	f.cache[location] = &jwksEntry{set: set, fetched: now}
	f.mu.Unlock()
	return set, nil
}

func fetchJWKS(ctx context.Context, hc *http.Client, location string) (*josev3.JSONWebKeySet, error) {
	body, _, err := outboundGet(ctx, hc, location, "application/json, application/jwk-set+json", jwksMaxBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	var set josev3.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("%s: not a JSON Web Key Set: %w", location, err)
	}
	return &set, nil
}
