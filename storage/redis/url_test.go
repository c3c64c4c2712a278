package redis

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url      string
		addrs    string
		db       int
		master   string
		cluster  bool
		tls      bool
		user     string
		password string
	}{
		{url: "redis://127.0.0.1:6379", addrs: "127.0.0.1:6379"},
		{url: "redis://localhost", addrs: "localhost:6379"},
		{url: "redis://u:p%40ss@h:7000/3", addrs: "h:7000", db: 3, user: "u", password: "p@ss"},
		{url: "rediss://cache.example.com:6380", addrs: "cache.example.com:6380", tls: true},
		{url: "redis://a:7000,b:7001,c:7002", addrs: "a:7000,b:7001,c:7002"},
		{url: "redis://a:7000?cluster=true", addrs: "a:7000", cluster: true},
		{url: "redis+sentinel://s1:26379,s2/mymaster", addrs: "s1:26379,s2:26379", master: "mymaster"},
		{url: "rediss+sentinel://:pw@s1:26379/mymaster/2?sentinel_password=x", addrs: "s1:26379", master: "mymaster", db: 2, tls: true, password: "pw"},
		{url: "redis://[::1]:6379", addrs: "[::1]:6379"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			o, err := ParseURL(tt.url)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if got := strings.Join(o.Addrs, ","); got != tt.addrs {
				t.Errorf("addrs = %q, want %q", got, tt.addrs)
			}
			if o.DB != tt.db || o.MasterName != tt.master || o.IsClusterMode != tt.cluster ||
				(o.TLSConfig != nil) != tt.tls || o.Username != tt.user || o.Password != tt.password {
				t.Errorf("got db=%d master=%q cluster=%v tls=%v user=%q password=%q, want %d %q %v %v %q %q",
					o.DB, o.MasterName, o.IsClusterMode, o.TLSConfig != nil, o.Username, o.Password,
					tt.db, tt.master, tt.cluster, tt.tls, tt.user, tt.password)
			}
		})
	}
}

func TestParseURLRejects(t *testing.T) {
	tests := []struct{ url, want string }{
		{"http://h:6379", "scheme"},
		{"redis://", "no host"},
		{"redis://h:6379/abc", "not a number"},
		{"redis://h:6379/1/2", "unexpected path"},
		{"redis+sentinel://s1:26379", "names the primary"},
		{"redis://a:1,b:2/1", "only database 0"},
		{"redis://h:6379?pool=3", "unknown parameter"},
		{"redis://h:6379?cluster=maybe", "cluster"},
		{"redis://a:1,,b:2", "empty host"},
		{"redis://u:secret@h:6379/%zz", "redis url"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := ParseURL(tt.url)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseURL(%q) = %v, want an error mentioning %q", tt.url, err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}
