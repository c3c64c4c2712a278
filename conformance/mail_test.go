package conformance

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atrium-id/atrium/internal/smtptest"
)

// The mail server the suite's Atrium submits its mails to (verification,
// password reset): a real SMTP server in this process, with AUTH, as an
// operator's relay would have.
const (
	mailUser    = "atrium"
	mailFrom    = "Atrium <id@conformance.test>"
	mailTimeout = 15 * time.Second // for a mail sent in the background to arrive
)

// startMail starts the SMTP server. It lives as long as the process;
// stopMail ends it.
func startMail() (m *smtptest.Server, password string, stopMail func(), err error) {
	password = randomString(16)
	tb := &mainTB{}
	defer func() {
		if r := recover(); r != nil {
			if tb.err == nil {
				panic(r)
			}
			err = tb.err
		}
	}()
	m = smtptest.Start(tb, smtptest.Options{Username: mailUser, Password: password})
	return m, password, tb.cleanup, nil
}

// mailEnv is the environment that points `atrium serve` at the SMTP
// server.
func mailEnv(m *smtptest.Server, password string) []string {
	return []string{
		"ATRIUM_SMTP_HOST=" + m.Host(),
		"ATRIUM_SMTP_PORT=" + strconv.Itoa(m.Port()),
		"ATRIUM_SMTP_USERNAME=" + mailUser,
		"ATRIUM_SMTP_PASSWORD=" + password,
		"ATRIUM_SMTP_FROM=" + mailFrom,
		// Loopback: the server offers no STARTTLS.
		"ATRIUM_SMTP_STARTTLS=off",
	}
}

// mainTB is the testing.TB of TestMain, where there is no test yet: it
// collects cleanups and turns a fatal error into a panic that startMail
// recovers. Methods smtptest does not call are left to the nil embedded
// interface and would panic.
type mainTB struct {
	testing.TB
	cleanups []func()
	err      error
}

func (*mainTB) Helper() {}

func (tb *mainTB) Cleanup(f func()) { tb.cleanups = append(tb.cleanups, f) }

func (tb *mainTB) Fatal(args ...any) {
	tb.err = errors.New("smtp server: " + fmt.Sprint(args...))
	panic(tb.err)
}

func (tb *mainTB) Fatalf(format string, args ...any) { tb.Fatal(fmt.Sprintf(format, args...)) }

func (tb *mainTB) cleanup() {
	for _, f := range slices.Backward(tb.cleanups) {
		f()
	}
}

// mailsTo returns the messages the SMTP server accepted for addr, oldest
// first.
func mailsTo(addr string) []*smtptest.Message {
	var out []*smtptest.Message
	for _, m := range srv.mail.Messages() {
		if slices.ContainsFunc(m.To, func(to string) bool { return strings.EqualFold(to, addr) }) {
			out = append(out, m)
		}
	}
	return out
}

// waitMail waits for the n-th message (counting from 1) to addr and
// returns it, failing the test when it does not come within mailTimeout.
func waitMail(t testing.TB, addr string, n int) *smtptest.Message {
	t.Helper()
	deadline := time.Now().Add(mailTimeout)
	for {
		if ms := mailsTo(addr); len(ms) >= n {
			return ms[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("mail %d to %s did not arrive within %v (%d arrived)", n, addr, mailTimeout, len(mailsTo(addr)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var linkPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// firstLink returns the first link in the text part of a mail, failing
// the test when it has none or the link leaves the issuer.
func firstLink(t testing.TB, m *smtptest.Message) string {
	t.Helper()
	link := linkPattern.FindString(m.Text)
	if link == "" {
		t.Fatalf("mail %q to %v has no link in its text:\n%s", m.Subject, m.To, m.Text)
	}
	if !onIssuer(link) {
		t.Fatalf("mail %q links to %s, not to the issuer %s", m.Subject, link, srv.issuer)
	}
	return link
}
