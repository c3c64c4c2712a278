package redis_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atrium-id/atrium/internal/redistest"
	"github.com/atrium-id/atrium/storage/storagetest"
)

// TestRedisSentinel runs the state suite through a Sentinel that monitors
// a private primary, reached by a redis+sentinel:// URL.
func TestRedisSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis and a Sentinel")
	}
	primary := redistest.Start(t)
	_, primaryPort, _ := net.SplitHostPort(primary.Addr())
	addr := startSentinel(t, primaryPort)
	storagetest.RunState(t, newStore("redis+sentinel://"+addr+"/atrium-primary"))
}

// startSentinel starts redis-server in Sentinel mode, monitoring the
// primary on 127.0.0.1:primaryPort as "atrium-primary", and returns its
// address once it knows the primary.
func startSentinel(t *testing.T, primaryPort string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not on PATH")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor atrium-primary 127.0.0.1 %s 1\nsentinel down-after-milliseconds atrium-primary 60000\n",
		port, dir, primaryPort)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--sentinel")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: addr})
	defer sc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := sc.GetMasterAddrByName(context.Background(), "atrium-primary").Result()
		if err == nil && len(got) == 2 && got[1] == primaryPort {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel on %s does not know the primary: %v %v", addr, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
