package clientip

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestAddr(t *testing.T) {
	trusted, err := ParsePrefixes([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8:aaaa::/48"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     []string // X-Forwarded-For headers, in order
		want    string
	}{
		{"direct peer", trusted, "203.0.113.5:5555", nil, "203.0.113.5"},
		{"untrusted peer's header is ignored", trusted, "203.0.113.5:5555", []string{"198.51.100.9"}, "203.0.113.5"},
		{"untrusted peer spoofing a trusted address", trusted, "203.0.113.5:5555", []string{"10.1.2.3"}, "203.0.113.5"},
		{"no trusted proxies configured", nil, "10.0.0.1:80", []string{"198.51.100.9"}, "10.0.0.1"},
		{"trusted proxy", trusted, "10.0.0.1:80", []string{"198.51.100.9"}, "198.51.100.9"},
		{"client-supplied entries left of the real client are ignored", trusted, "10.0.0.1:80",
			[]string{"1.1.1.1, 198.51.100.9"}, "198.51.100.9"},
		{"chain of trusted proxies", trusted, "10.0.0.1:80",
			[]string{"6.6.6.6, 198.51.100.9, 192.0.2.7, 10.9.9.9"}, "198.51.100.9"},
		{"several headers form one list", trusted, "10.0.0.1:80",
			[]string{"6.6.6.6, 198.51.100.9", "10.2.2.2"}, "198.51.100.9"},
		{"spoofed trusted address left of the client", trusted, "10.0.0.1:80",
			[]string{"10.5.5.5, 198.51.100.9"}, "198.51.100.9"},
		{"trusted proxy without header", trusted, "10.0.0.1:80", nil, "10.0.0.1"},
		{"every hop trusted", trusted, "10.0.0.1:80", []string{"10.3.3.3, 192.0.2.7"}, "10.3.3.3"},
		{"garbage entry stops at the last trusted hop", trusted, "10.0.0.1:80",
			[]string{"198.51.100.9, not-an-ip, 10.4.4.4"}, "10.4.4.4"},
		{"garbage right after the peer", trusted, "10.0.0.1:80", []string{"198.51.100.9, <script>"}, "10.0.0.1"},
		{"entries with ports and spaces", trusted, "10.0.0.1:80", []string{" 198.51.100.9:4711 ,10.7.7.7"}, "198.51.100.9"},
		{"IPv6 client behind an IPv6 proxy", trusted, "[2001:db8:aaaa::1]:443", []string{"2001:db8:beef::42"}, "2001:db8:beef::42"},
		{"bracketed IPv6 entry", trusted, "10.0.0.1:80", []string{"[2001:db8:beef::42]:1234"}, "2001:db8:beef::42"},
		{"IPv4-mapped peer counts as IPv4", trusted, "[::ffff:10.0.0.1]:80", []string{"198.51.100.9"}, "198.51.100.9"},
		{"IPv4-mapped client is unmapped", trusted, "10.0.0.1:80", []string{"::ffff:198.51.100.9"}, "198.51.100.9"},
		{"untrusted IPv6 peer", trusted, "[2001:db8:beef::1]:443", []string{"198.51.100.9"}, "2001:db8:beef::1"},
		{"RemoteAddr without port", trusted, "203.0.113.5", nil, "203.0.113.5"},
		{"RemoteAddr not an address", trusted, "pipe", []string{"198.51.100.9"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/login", nil)
			req.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := New(tc.trusted).String(req); got != tc.want {
				t.Errorf("client address of RemoteAddr %q, X-Forwarded-For %q = %q, want %q", tc.remote, tc.xff, got, tc.want)
			}
		})
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes([]string{"10.0.0.0/8", " 192.0.2.7 ", "2001:db8::/32", "10.1.2.3/16", "::ffff:192.0.2.9"})
	if err != nil {
		t.Fatalf("ParsePrefixes(valid) = %v", err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "10.1.0.0/16", "192.0.2.9/32"}
	if len(got) != len(want) {
		t.Fatalf("ParsePrefixes = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("ParsePrefixes[%d] = %s, want %s", i, got[i], want[i])
		}
	}
	_, err = ParsePrefixes([]string{"10.0.0.0/8", "10.0.0.0/33", "proxy.example"})
	if err == nil || !strings.Contains(err.Error(), `"10.0.0.0/33"`) || !strings.Contains(err.Error(), `"proxy.example"`) {
		t.Errorf("ParsePrefixes(two bad entries) = %v, want an error naming both", err)
	}
}
