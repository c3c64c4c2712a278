package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestClientRequestObjectKeys(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"client_request_uri_http", `clients[0].request_uris[0]: "http://app.example.com/request.jwt" is not an https URL`},
		{"client_request_object_alg_without_keys", `clients[0].request_object_signing_alg: a client signs request objects with a key of its key set`},
		{"client_request_object_alg_unknown", `clients[0].request_object_signing_alg: "HS256" is not one of RS256, ES256, EdDSA, none`},
		{"client_request_object_alg_no_fitting_key", `clients[0].request_object_signing_alg: testdata/client.jwks.json: the key set has no key for ES256`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := load(t, filepath.Join("testdata", tc.file+".bad.yaml"), noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCheckRequestURI(t *testing.T) {
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"https://rp.example/request.jwt", true},
		{"https://rp.example/request.jwt#Xy1-hash", true},
		{"http://rp.example/request.jwt", false},
		{"https://user@rp.example/request.jwt", false},
		{"https:///request.jwt", false},
		{"urn:ietf:params:oauth:request_uri:abc", false},
		{"https://rp.example/" + strings.Repeat("a", MaxRequestURILength), false},
	} {
		if err := CheckRequestURI(tc.uri); (err == nil) != tc.ok {
			t.Errorf("CheckRequestURI(%q) = %v, want ok %v", tc.uri, err, tc.ok)
		}
	}
}
