package mail_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/internal/mail"
	"github.com/atrium-id/atrium/internal/smtptest"
)

func TestSMTPSend(t *testing.T) {
	tests := []struct {
		name     string
		server   smtptest.Options
		starttls string
		user     string
		pass     string
		wantErr  string
		wantTLS  bool
	}{
		{name: "plain local relay", starttls: mail.StartTLSAuto},
		{name: "starttls offered", server: smtptest.Options{TLS: true}, wantTLS: true},
		{name: "starttls with auth", server: smtptest.Options{TLS: true, Username: "u", Password: "p"},
			user: "u", pass: "p", wantTLS: true},
		{name: "auth on loopback without tls", server: smtptest.Options{Username: "u", Password: "p"},
			user: "u", pass: "p"},
		{name: "starttls required but not offered", starttls: mail.StartTLSRequired, wantErr: "does not offer STARTTLS"},
		{name: "starttls off", server: smtptest.Options{TLS: true}, starttls: mail.StartTLSOff},
		{name: "wrong password", server: smtptest.Options{TLS: true, Username: "u", Password: "p"},
			user: "u", pass: "wrong", wantErr: "AUTH"},
		{name: "auth required, none configured", server: smtptest.Options{TLS: true, Username: "u", Password: "p"},
			wantErr: "MAIL FROM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.server)
			s, err := mail.NewSMTP(mail.SMTPConfig{
				Host: srv.Host(), Port: srv.Port(), Username: tc.user, Password: tc.pass,
				From: "Atrium <id@example.com>", StartTLS: tc.starttls, TLSConfig: srv.ClientTLS(),
			})
			if err != nil {
				t.Fatal(err)
			}
			msg, err := mail.Render("verify_email", "Ada <ada@example.com>", map[string]string{
				"Name": "Ada", "Link": "https://id.example.com/verify-email?token=abc_DEF-123",
			})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), msg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Send error = %v, want one containing %q", err, tc.wantErr)
				}
				if n := len(srv.Messages()); n != 0 {
					t.Fatalf("%d messages accepted, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := srv.WaitFor("ada@example.com", nil)
			if m.TLS != tc.wantTLS || m.AuthUser != tc.user || m.From != "id@example.com" {
				t.Errorf("got TLS %v auth %q from %q, want TLS %v auth %q", m.TLS, m.AuthUser, m.From, tc.wantTLS, tc.user)
			}
			if m.Subject != "Confirm your email address" {
				t.Errorf("subject %q", m.Subject)
			}
			for part, body := range map[string]string{"text": m.Text, "html": m.HTML} {
				if !strings.Contains(body, "https://id.example.com/verify-email?token=abc_DEF-123") {
					t.Errorf("%s part lacks the link:\n%s", part, body)
				}
			}
		})
	}
}

func TestNewSMTPRejects(t *testing.T) {
	for name, cfg := range map[string]mail.SMTPConfig{
		"no host":                 {From: "a@example.com"},
		"bad from":                {Host: "smtp.example.com", From: "not an address"},
		"bad starttls":            {Host: "smtp.example.com", From: "a@example.com", StartTLS: "maybe"},
		"password in clear, host": {Host: "smtp.example.com", From: "a@example.com", StartTLS: mail.StartTLSOff, Username: "u"},
	} {
		if _, err := mail.NewSMTP(cfg); err == nil {
			t.Errorf("%s: NewSMTP accepted %+v", name, cfg)
		}
	}
}

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	l := mail.Log{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Content: true}
	msg, err := mail.Render("reset_password", "ada@example.com", map[string]string{"Link": "https://id.example.com/reset-password?token=xyz"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "reset-password?token=xyz") || !strings.Contains(buf.String(), "ada@example.com") {
		t.Errorf("log lacks the mail: %s", buf.String())
	}
	// Without Content the link, a secret, stays out of the log.
	buf.Reset()
	if err := (mail.Log{Logger: slog.New(slog.NewTextHandler(&buf, nil))}).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "token=xyz") || !strings.Contains(buf.String(), "ada@example.com") {
		t.Errorf("log without content: %s", buf.String())
	}
}
