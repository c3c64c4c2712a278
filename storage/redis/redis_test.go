package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
	"github.com/atrium-id/atrium/storage/storagetest"
)

// newStore returns a store on url under a fresh key prefix, so cases do
// not see each other's keys, and deletes the keys afterwards.
func newStore(url string) func(t *testing.T, clock *storagetest.Clock) storage.StateStore {
	return func(t *testing.T, clock *storagetest.Clock) storage.StateStore {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		prefix := "test:" + hex.EncodeToString(b) + ":"
		ctx := context.Background()
		s, err := redisstore.Open(ctx, url, redisstore.WithClock(clock.Now), redisstore.WithPrefix(prefix))
		if err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
		t.Cleanup(func() {
			defer s.Close()
			deleteKeys(t, s.Client(), prefix)
		})
		return s
	}
}

// deleteKeys removes every key under prefix, on every primary of a cluster.
func deleteKeys(t *testing.T, c goredis.UniversalClient, prefix string) {
	ctx := context.Background()
	del := func(ctx context.Context, c goredis.Cmdable) error {
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			if err := c.Del(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	var err error
	if cc, ok := c.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error { return del(ctx, n) })
	} else {
		err = del(ctx, c)
	}
	if err != nil {
		t.Errorf("delete test keys: %v", err)
	}
}

// TestRedis runs the state suite against one Redis server.
func TestRedis(t *testing.T) {
	storagetest.RunState(t, newStore(redistest.URL(t)))
}

// TestRedisCluster runs the state suite against a three-primary Redis
// Cluster started on loopback ports.
func TestRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	storagetest.RunState(t, newStore(redistest.StartCluster(t)))
}
