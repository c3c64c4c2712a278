package mail_test

import (
	"context"
	"strings"
	"testing"

	"github.com/atrium-id/atrium/internal/mail"
	"github.com/atrium-id/atrium/internal/smtptest"
)

// TestRenderLang sends each mail in German through a real SMTP server and
// checks the subject and both parts arrive German, with the link; English
// and unknown languages get the English mail.
func TestRenderLang(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	s, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), From: "Atrium <id@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	link := "https://id.example.com/x?token=tok_123"
	for _, tc := range []struct {
		name, lang, subject, text, html string
	}{
		{"verify_email", "de", "Bestätigen Sie Ihre E-Mail-Adresse", "Hallo Ada,", `<html lang="de">`},
		{"reset_password", "de", "Passwort zurücksetzen", "Um ein neues Passwort zu wählen", "Neues Passwort wählen"},
		{"signup_exists", "de", "Sie haben bereits ein Konto", "„Passwort vergessen?“", "Sie haben bereits eines"},
		{"verify_email", "en", "Confirm your email address", "Hello Ada,", "Confirm email address"},
		{"reset_password", "fr", "Reset your password", "To choose a new password", "Choose a new password"},
	} {
		t.Run(tc.name+"/"+tc.lang, func(t *testing.T) {
			to := tc.name + "-" + tc.lang + "@example.com"
			msg, err := mail.RenderLang(tc.name, tc.lang, to, map[string]string{"Name": "Ada", "Link": link})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), msg); err != nil {
				t.Fatal(err)
			}
			m := srv.WaitFor(to, nil)
			if m.Subject != tc.subject {
				t.Errorf("subject %q, want %q", m.Subject, tc.subject)
			}
			if !strings.Contains(m.Text, tc.text) || !strings.Contains(m.HTML, tc.html) {
				t.Errorf("text lacks %q or HTML lacks %q:\n%s\n%s", tc.text, tc.html, m.Text, m.HTML)
			}
			if tc.name != "signup_exists" && (!strings.Contains(m.Text, link) || !strings.Contains(m.HTML, link)) {
				t.Errorf("a part lacks the link:\n%s\n%s", m.Text, m.HTML)
			}
		})
	}
}
