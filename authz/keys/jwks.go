package keys

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// JWKSMaxAge is how long relying parties and HTTP caches may keep the JWKS
// document (Cache-Control max-age). MinPublishBefore counts it: a next key
// is published at least this long (plus the reload interval) before it
// signs, so a cached document never lacks a key whose tokens are about.
const JWKSMaxAge = 60 * time.Second

var jwksCacheControl = "public, max-age=" + strconv.Itoa(int(JWKSMaxAge/time.Second))

// JWKS returns the public halves of every published key, active first.
func (m *Manager) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	s, err := m.current(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(s.keys))}
	for _, k := range s.keys {
		set.Keys = append(set.Keys, k.jwk)
	}
	return set, nil
}

// JWKSHandler serves the JWKS document (GET and HEAD). The document is
// encoded once per cache reload, not per request.
func (m *Manager) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		s, err := m.current(r.Context())
		if err != nil {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "signing keys are unavailable", http.StatusServiceUnavailable)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", jwksCacheControl)
		h.Set("Content-Length", strconv.Itoa(len(s.jwks)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(s.jwks)
		}
	})
}
