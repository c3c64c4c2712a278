package redistest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atrium-id/atrium/internal/redistest"
)

// TestStart pings a private server, stops it, and pings it again after a
// restart on the same port.
func TestStart(t *testing.T) {
	s := redistest.Start(t)
	if !strings.HasPrefix(s.URL(), "redis://127.0.0.1:") {
		t.Fatalf("URL() = %q, want redis://127.0.0.1:<port>", s.URL())
	}
	ping(t, s.URL())

	s.Stop()
	if _, err := redistest.Do(s.Addr(), "PING"); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Stop() // stopping twice is harmless

	url := s.URL()
	s.Restart()
	if s.URL() != url {
		t.Errorf("URL after Restart = %q, want the same %q", s.URL(), url)
	}
	ping(t, s.URL())
}

// TestURL pings the server URL gives.
func TestURL(t *testing.T) {
	ping(t, redistest.URL(t))
}

// TestStartCluster checks the cluster answers as one: keys in every slot
// range can be written and read through a cluster client.
func TestStartCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	url := redistest.StartCluster(t)
	if n := strings.Count(url, ","); n != 2 {
		t.Fatalf("StartCluster() = %q, want a seed list of three nodes", url)
	}
	cc := goredis.NewClusterClient(&goredis.ClusterOptions{
		Addrs: strings.Split(strings.TrimPrefix(url, "redis://"), ","),
	})
	defer cc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := cc.ForEachShard(ctx, func(ctx context.Context, n *goredis.Client) error {
		return n.Ping(ctx).Err()
	}); err != nil {
		t.Fatalf("ping every shard: %v", err)
	}
	masters := 0
	_ = cc.ForEachMaster(ctx, func(context.Context, *goredis.Client) error { masters++; return nil })
	if masters != 3 {
		t.Errorf("%d primaries, want 3", masters)
	}
	for i := range 30 { // enough keys to land on every primary
		k := "redistest:" + string(rune('a'+i))
		if err := cc.Set(ctx, k, i, time.Minute).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		if got, err := cc.Get(ctx, k).Int(); err != nil || got != i {
			t.Fatalf("GET %s = %d, %v; want %d", k, got, err, i)
		}
	}
}

func ping(t *testing.T, url string) {
	t.Helper()
	o, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING %s: %v", url, err)
	}
}
