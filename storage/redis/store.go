package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atrium-id/atrium/storage"
)

// Store implements storage.StateStore over Redis.
type Store struct {
	c      goredis.UniversalClient
	prefix string
	now    func() time.Time
}

var _ storage.StateStore = (*Store)(nil)

// Option configures Open.
type Option func(*Store)

// WithClock sets the clock expiry is judged by (time.Now by default).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithPrefix sets the prefix of every key (default "atrium:"), so several
// deployments or tests can share one Redis.
func WithPrefix(p string) Option { return func(s *Store) { s.prefix = p } }

// Open connects to the Redis named by rawURL (see ParseURL) and checks that
// it answers.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	o, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	s := &Store{c: goredis.NewUniversalClient(o), prefix: "atrium:", now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	if err := s.Ping(ctx); err != nil {
		s.c.Close()
		return nil, fmt.Errorf("connect to redis: %w", err)
	}
	return s, nil
}

// ParseURL turns a Redis URL into client options:
//
//	redis://[user:password@]host:port[/db]        one server (rediss:// for TLS)
//	redis://host1:port1,host2:port2,...           a Redis Cluster, by seed nodes
//	redis://host:port?cluster=true                a Redis Cluster, by one seed
//	redis+sentinel://[user:password@]h1:p1,h2:p2/primary-name[/db]
//	                                              a Sentinel-managed primary
//	                                              (rediss+sentinel:// for TLS;
//	                                              ?sentinel_password=... when the
//	                                              sentinels want one)
func ParseURL(rawURL string) (*goredis.UniversalOptions, error) {
	// url.Parse does not take host lists, so the hosts are cut out first
	// and the rest parsed with a placeholder host.
	hosts, rest, err := cutHosts(rawURL)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rest)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", redactURLError(err))
	}
	o := &goredis.UniversalOptions{
		DialTimeout:  2 * time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
		PoolTimeout:  3 * time.Second,
		// Fail fast while Redis is away: callers answer 503 and clients retry.
		MaxRetries:      1,
		MinRetryBackoff: 10 * time.Millisecond,
		MaxRetryBackoff: 100 * time.Millisecond,
		// RESP2: Atrium uses no RESP3 feature (push messages, client-side
		// caching), and with RESP3 go-redis checks every reply for pending
		// push messages, a few percent of the CPU of a token request.
		Protocol: 2,
	}
	sentinel := false
	switch u.Scheme {
	case "redis":
	case "rediss":
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	case "redis+sentinel":
		sentinel = true
	case "rediss+sentinel":
		sentinel = true
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	default:
		return nil, fmt.Errorf("redis url: scheme %q is not redis, rediss, redis+sentinel or rediss+sentinel", u.Scheme)
	}
	if hosts == "" {
		return nil, errors.New("redis url: no host")
	}
	for _, h := range strings.Split(hosts, ",") {
		if h == "" {
			return nil, errors.New("redis url: empty host in the host list")
		}
		if !strings.Contains(h, ":") || strings.HasSuffix(h, "]") {
			h += ":" + map[bool]string{true: "26379", false: "6379"}[sentinel]
		}
		o.Addrs = append(o.Addrs, h)
	}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	if o.TLSConfig != nil && len(o.Addrs) == 1 {
		if host, _, err := net.SplitHostPort(o.Addrs[0]); err == nil {
			o.TLSConfig.ServerName = host
		}
	}
	path := strings.Trim(u.Path, "/")
	var parts []string
	if path != "" {
		parts = strings.Split(path, "/")
	}
	if sentinel {
		if len(parts) == 0 || parts[0] == "" {
			return nil, errors.New("redis url: a sentinel url names the primary: redis+sentinel://host:port/primary-name")
		}
		o.MasterName, parts = parts[0], parts[1:]
	}
	switch len(parts) {
	case 0:
	case 1:
		if o.DB, err = strconv.Atoi(parts[0]); err != nil || o.DB < 0 {
			return nil, fmt.Errorf("redis url: database %q is not a number", parts[0])
		}
	default:
		return nil, fmt.Errorf("redis url: unexpected path %q", u.Path)
	}
	for k, v := range u.Query() {
		switch k {
		case "cluster":
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return nil, fmt.Errorf("redis url: cluster=%q is not true or false", v[0])
			}
			o.IsClusterMode = b
		case "sentinel_password":
			o.SentinelPassword = v[0]
		default:
			return nil, fmt.Errorf("redis url: unknown parameter %q", k)
		}
	}
	if (o.IsClusterMode || len(o.Addrs) > 1 && !sentinel) && o.DB != 0 {
		return nil, errors.New("redis url: a Redis Cluster has only database 0")
	}
	return o, nil
}

// cutHosts splits scheme://[userinfo@]hosts/rest into the host list and the
// URL with the placeholder host "h".
func cutHosts(raw string) (hosts, rest string, err error) {
	scheme, after, ok := strings.Cut(raw, "://")
	if !ok {
		return "", "", errors.New("redis url: want scheme://host:port")
	}
	end := strings.IndexAny(after, "/?#")
	if end < 0 {
		end = len(after)
	}
	authority, tail := after[:end], after[end:]
	userinfo := ""
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, authority = authority[:at+1], authority[at+1:]
	}
	return authority, scheme + "://" + userinfo + "h" + tail, nil
}

// redactURLError keeps a password out of a URL parse error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Client returns the underlying client.
func (s *Store) Client() goredis.UniversalClient { return s.c }

// Ping checks Redis answers.
func (s *Store) Ping(ctx context.Context) error { return wrap(s.c.Ping(ctx).Err()) }

// Close closes the client.
func (s *Store) Close() error { return s.c.Close() }

// wrap maps redis.Nil to storage.ErrNotFound and an unreachable Redis to
// storage.ErrUnavailable.
func wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, goredis.Nil):
		return storage.ErrNotFound
	case errors.Is(err, context.Canceled):
		return err
	}
	var re goredis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		for _, p := range []string{"LOADING", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS"} {
			if strings.HasPrefix(msg, p) {
				return fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
			}
		}
		return err
	}
	// Everything else is the connection: refused, reset, timed out, closed.
	return fmt.Errorf("%w: redis: %v", storage.ErrUnavailable, err)
}

// ttl is how long Redis keeps a record expiring at exp: at least a
// millisecond, 0 (no expiry) for the zero time.
func (s *Store) ttl(exp time.Time) time.Duration {
	if exp.IsZero() {
		return 0
	}
	d := exp.Sub(s.now())
	if d < time.Millisecond {
		d = time.Millisecond
	}
	return d
}

// live reports whether a record expiring at exp is still valid.
func (s *Store) live(exp time.Time) bool { return exp.IsZero() || s.now().Before(exp) }

// score is an index member's score: its expiry in microseconds, or
// neverScore for records without one.
func score(exp time.Time) float64 {
	if exp.IsZero() {
		return neverScore
	}
	return float64(exp.UnixMicro())
}

const neverScore = 1 << 53

func (s *Store) sessionKey(id string) string        { return s.prefix + "{s:" + id + "}" }
func (s *Store) userSessionsKey(id string) string   { return s.prefix + "{u:" + id + "}:sessions" }
func (s *Store) interactionKey(id string) string    { return s.prefix + "{i:" + id + "}" }
func (s *Store) grantKey(requestID string) string   { return s.prefix + "{g:" + requestID + "}" }
func (s *Store) subjectGrantsKey(sub string) string { return s.prefix + "{u:" + sub + "}:grants" }
func (s *Store) clientGrantsKey(id string) string   { return s.prefix + "{c:" + id + "}:grants" }
func (s *Store) onceKey(key string) string          { return s.prefix + "{o:" + key + "}" }
func (s *Store) counterKey(key string) string       { return s.prefix + "{n:" + key + "}" }

func (s *Store) tokenKey(kind storage.TokenKind, sig string) string {
	return s.prefix + "{t:" + kindCode(kind) + ":" + sig + "}"
}

// kindCodes are the one-letter names of token kinds in keys and index
// members: every byte counts a few million times.
var kindCodes = map[storage.TokenKind]string{
	storage.KindAuthorizeCode: "c",
	storage.KindAccessToken:   "a",
	storage.KindRefreshToken:  "r",
	storage.KindOpenID:        "o",
	storage.KindPKCE:          "p",
}

func kindCode(k storage.TokenKind) string {
	if c, ok := kindCodes[k]; ok {
		return c
	}
	return string(k) // a kind from a newer version: its whole name
}

func codeKind(c string) storage.TokenKind {
	for k, code := range kindCodes {
		if code == c {
			return k
		}
	}
	return storage.TokenKind(c)
}
