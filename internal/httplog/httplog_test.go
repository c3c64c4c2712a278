package httplog

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	for _, tc := range []struct {
		name     string
		incoming string
		keep     bool
	}{
		{"no incoming ID", "", false},
		{"sane incoming ID", "req-7f3a.b_c:1", true},
		{"log injection", "abc\ndef", false},
		{"too long", strings.Repeat("a", 129), false},
		{"spaces", "a b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			var seen, seenCtx string
			h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen, seenCtx = r.Header.Get(Header), RequestID(r.Context())
				w.WriteHeader(http.StatusTeapot)
				_, _ = io.WriteString(w, "short and stout")
			}), log)

			req := httptest.NewRequest("GET", "/token?code=SECRET-CODE&state=xyz", nil)
			if tc.incoming != "" {
				req.Header.Set(Header, tc.incoming)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			id := rec.Header().Get(Header)
			if id == "" || id != seen || id != seenCtx {
				t.Fatalf("response ID %q, handler saw %q and %q", id, seen, seenCtx)
			}
			if tc.keep != (id == tc.incoming) {
				t.Errorf("incoming %q, response ID %q", tc.incoming, id)
			}
			if strings.Contains(logs.String(), "SECRET-CODE") || strings.Contains(logs.String(), "state=") {
				t.Errorf("the log line carries the query: %s", logs.String())
			}
			var line map[string]any
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("log line: %v: %s", err, logs.String())
			}
			for k, want := range map[string]any{
				"method": "GET", "path": "/token", "status": float64(418), "bytes": float64(15), "request_id": id,
			} {
				if line[k] != want {
					t.Errorf("log %s = %v, want %v", k, line[k], want)
				}
			}
			if _, ok := line["duration"]; !ok {
				t.Errorf("log line has no duration: %v", line)
			}
		})
	}
}

func TestImplicitStatus(t *testing.T) {
	var logs bytes.Buffer
	h := Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), slog.New(slog.NewJSONHandler(&logs, nil)))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if !strings.Contains(logs.String(), `"status":200`) {
		t.Errorf("log: %s", logs.String())
	}
}
