// Package redistest provides Redis servers to tests: the one named by
// ATRIUM_TEST_REDIS_URL, or private redis-server processes on loopback
// ports, started from PATH and stopped when the test ends.
//
// Without redis-server (and, for URL, without ATRIUM_TEST_REDIS_URL) the
// test is skipped, or fails when ATRIUM_TEST_REQUIRE_REDIS=1, so that CI
// can insist on running it.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables read by the package.
const (
	// EnvURL names a Redis server to use instead of starting one (URL only).
	EnvURL = "ATRIUM_TEST_REDIS_URL"
	// EnvRequire, when "1", turns a skip for want of Redis into a failure.
	EnvRequire = "ATRIUM_TEST_REQUIRE_REDIS"
)

// Time limits.
const (
	startTimeout   = 10 * time.Second // for a redis-server to answer PING
	clusterTimeout = 30 * time.Second // for a cluster to reach cluster_state:ok
	stopTimeout    = 5 * time.Second  // for a killed redis-server to exit
	dialTimeout    = time.Second
)

// URL returns the URL of a Redis server for t: ATRIUM_TEST_REDIS_URL when
// set, else that of a private redis-server started for t and stopped when
// t ends. Tests sharing a server should keep apart with key prefixes.
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return Start(t).URL()
}

// Server is a private redis-server process.
type Server struct {
	t    testing.TB
	addr string // 127.0.0.1:port, kept across restarts
	dir  string
	args []string // extra redis-server arguments

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	log    *syncBuffer   // the current process's output
}

// Start starts a private redis-server on a free loopback port, without
// persistence, and stops it when t ends. It skips t when redis-server is
// not on PATH, unless ATRIUM_TEST_REQUIRE_REDIS=1.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, t.TempDir(), false)
}

// start starts a server in dir, as a cluster node when cluster is set,
// retrying on other ports when one picked was taken in the meantime.
func start(t testing.TB, dir string, cluster bool) *Server {
	t.Helper()
	bin := lookPath(t, "redis-server")
	var err error
	for range 3 {
		var addr, bus string
		if addr, err = freeAddr(); err != nil {
			break
		}
		var args []string
		if cluster {
			if bus, err = freeAddr(); err != nil {
				break
			}
			_, busPort, _ := net.SplitHostPort(bus)
			args = []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
				"--cluster-port", busPort,
				"--cluster-node-timeout", "5000",
			}
		}
		s := &Server{t: t, addr: addr, dir: dir, args: args}
		if err = s.launch(bin); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("redistest: %v", err)
	return nil
}

// URL returns redis://127.0.0.1:port.
func (s *Server) URL() string { return "redis://" + s.addr }

// Addr returns 127.0.0.1:port.
func (s *Server) Addr() string { return s.addr }

// Stop kills the server, as a crash would: clients see their connections
// reset and new ones refused. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.t.Errorf("redistest: redis-server on %s did not exit %v after SIGKILL", s.addr, stopTimeout)
	}
	s.cmd = nil
}

// Restart starts the server again on the same port, stopping it first if
// it runs. The new process starts empty (there is no persistence).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	deadline := time.Now().Add(startTimeout)
	for {
		// The port can stay briefly unusable after the kill; redis-server
		// then exits at once, and another try succeeds.
		err := s.launch(lookPath(s.t, "redis-server"))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: restart on %s: %v", s.addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// launch starts redis-server on s.addr and waits until it answers PING.
func (s *Server) launch(bin string) error {
	host, port, _ := net.SplitHostPort(s.addr)
	args := append([]string{
		"--bind", host,
		"--port", port,
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--logfile", "",
	}, s.args...)
	log := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited at start:\n%s", s.addr, log.String())
		default:
		}
		if reply, err := Do(s.addr, "PING"); err == nil && reply == "PONG" {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer PING within %v:\n%s", s.addr, startTimeout, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd, s.exited, s.log = cmd, exited, log
	s.mu.Unlock()
	return nil
}

// Log returns what the current (or last) redis-server process printed.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

// StartCluster starts a Redis Cluster of three primaries (no replicas) on
// loopback ports and returns its seed-list URL,
// redis://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3, once every node reports
// cluster_state:ok. The nodes are stopped when t ends. It skips like Start,
// and also when redis-cli is not on PATH.
func StartCluster(t testing.TB) string {
	t.Helper()
	cli := lookPath(t, "redis-cli")
	root := t.TempDir()
	var nodes []*Server
	for i := range 3 {
		dir := filepath.Join(root, "node"+strconv.Itoa(i+1))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, start(t, dir, true))
	}
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.addr
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	for _, n := range nodes {
		for {
			info, err := Do(n.addr, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("redistest: cluster node %s not ok after %v: %q, %v", n.addr, clusterTimeout, info, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return "redis://" + strings.Join(addrs, ",")
}

// Do sends one command to the Redis server at addr on a new connection and
// returns the reply: the text of a simple or bulk string, or the decimal
// value of an integer. An error reply is returned as an error. It is meant
// for setting up and inspecting test servers, not for the code under test.
func Do(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var req bytes.Buffer
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write(req.Bytes()); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return "", nil // nil reply
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	}
	return "", fmt.Errorf("unsupported reply %q", line)
}

// lookPath finds a program on PATH, skipping (or, with
// ATRIUM_TEST_REQUIRE_REDIS=1, failing) t when it is missing. URL only
// gets here when ATRIUM_TEST_REDIS_URL is unset.
func lookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("redistest: %s=1 but %s is not on PATH: %v", EnvRequire, name, err)
	}
	t.Skipf("redistest: no Redis: %s is not on PATH (set %s=1 to fail instead)", name, EnvRequire)
	return ""
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
