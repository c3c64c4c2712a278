package authz

import (
	"testing"
	"time"

	"github.com/atrium-id/atrium/storage"
)

func TestClientCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cc := newClientCache(5*time.Second, func() time.Time { return now })
	c := &client{c: &storage.Client{ID: "app"}}
	if cc.get("app") != nil {
		t.Fatal("empty cache returned a client")
	}
	cc.put("app", c)
	now = now.Add(4 * time.Second)
	if cc.get("app") != c {
		t.Error("client not served within the TTL")
	}
	now = now.Add(time.Second)
	if cc.get("app") != nil {
		t.Error("client served at its TTL, want a fresh read")
	}
	for i := range maxCachedClients + 1 {
		cc.put(string(rune('a'+i%26))+time.Duration(i).String(), c)
	}
	if len(cc.m) > maxCachedClients {
		t.Errorf("cache holds %d clients, want at most %d", len(cc.m), maxCachedClients)
	}
	off := newClientCache(-1, time.Now)
	off.put("app", c)
	if off.get("app") != nil {
		t.Error("a disabled cache returned a client")
	}
}
