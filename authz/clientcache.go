package authz

import (
	"sync"
	"time"
)

// clientCache keeps loaded clients for a short time, so the token,
// introspection and revocation endpoints do not read and parse the client
// from the database on every request (it was a third of the CPU of a
// client_credentials request). A change to a client (a new secret, a
// deletion) is seen by every node within the TTL.
type clientCache struct {
	ttl time.Duration
	now func() time.Time

	mu sync.RWMutex
	m  map[string]cachedClient
}

type cachedClient struct {
	c   *client
	exp time.Time
}

// maxCachedClients bounds the cache; past it the cache starts over.
const maxCachedClients = 10000

func newClientCache(ttl time.Duration, now func() time.Time) *clientCache {
	return &clientCache{ttl: ttl, now: now, m: map[string]cachedClient{}}
}

func (cc *clientCache) get(id string) *client {
	if cc == nil || cc.ttl <= 0 {
		return nil
	}
	cc.mu.RLock()
	e, ok := cc.m[id]
	cc.mu.RUnlock()
	if !ok || !cc.now().Before(e.exp) {
		return nil
	}
	return e.c
}

func (cc *clientCache) put(id string, c *client) {
	if cc == nil || cc.ttl <= 0 {
		return
	}
	cc.mu.Lock()
	if len(cc.m) >= maxCachedClients {
		cc.m = map[string]cachedClient{}
	}
	cc.m[id] = cachedClient{c: c, exp: cc.now().Add(cc.ttl)}
	cc.mu.Unlock()
}

// drop forgets a client this node changed or deleted.
func (cc *clientCache) drop(id string) {
	if cc == nil {
		return
	}
	cc.mu.Lock()
	delete(cc.m, id)
	cc.mu.Unlock()
}
