package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/internal/mail"
	"github.com/atrium-id/atrium/internal/smtptest"
)

// Without smtp.host mails go to the log (with a warning outside --dev);
// with it, to the server, with the password read from its file.
func TestNewMailSender(t *testing.T) {
	for _, dev := range []bool{true, false} {
		var buf bytes.Buffer
		s, err := newMailSender(&config.Config{Dev: dev}, slog.New(slog.NewTextHandler(&buf, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if l, ok := s.(mail.Log); !ok || l.Content != dev {
			t.Fatalf("dev %v: sender %#v, want the log, with the mails' content only in dev", dev, s)
		}
		if warned := strings.Contains(buf.String(), "no smtp.host configured"); warned == dev {
			t.Errorf("dev %v: warned %v: %s", dev, warned, buf.String())
		}
	}

	srv := smtptest.Start(t, smtptest.Options{Username: "atrium", Password: "from-file"})
	file := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("", func(k string) string {
		return map[string]string{
			"ATRIUM_SMTP_HOST": srv.Host(), "ATRIUM_SMTP_PORT": strconv.Itoa(srv.Port()),
			"ATRIUM_SMTP_USERNAME": "atrium", "ATRIUM_SMTP_PASSWORD_FILE": file,
			"ATRIUM_SMTP_FROM": "Atrium <id@example.com>",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := newMailSender(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), &mail.Message{To: "ada@example.com", Subject: "Hello", Text: "Hi"}); err != nil {
		t.Fatal(err)
	}
	if m := srv.WaitFor("ada@example.com", nil); m.AuthUser != "atrium" || m.Subject != "Hello" {
		t.Fatalf("received %+v", m)
	}
}
