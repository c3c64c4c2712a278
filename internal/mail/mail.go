package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
)

// Message is one mail to one recipient.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string // optional
}

// Sender delivers messages.
type Sender interface {
	Send(ctx context.Context, m *Message) error
}

// StartTLS modes of SMTPConfig.
const (
	StartTLSAuto     = "auto"     // when the server offers it (default)
	StartTLSRequired = "required" // refuse to send otherwise
	StartTLSOff      = "off"      // never (local relays only)
)

// SMTPConfig configures an SMTP server to submit mail to.
type SMTPConfig struct {
	Host     string
	Port     int // default 587
	Username string
	Password string
	From     string // the From address, e.g. "Atrium <id@example.com>"
	StartTLS string // StartTLSAuto, StartTLSRequired or StartTLSOff
	// Timeout bounds one whole submission; default 30s.
	Timeout time.Duration
	// TLSConfig, when set, is used for STARTTLS (tests trust their own CA
	// with it); ServerName is filled in.
	TLSConfig *tls.Config
}

// SMTP submits mail to an SMTP server, one connection per message.
type SMTP struct {
	cfg SMTPConfig
}

// NewSMTP checks cfg and returns its Sender.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("mail: SMTP host is required")
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	switch cfg.StartTLS {
	case "":
		cfg.StartTLS = StartTLSAuto
	case StartTLSAuto, StartTLSRequired, StartTLSOff:
	default:
		return nil, fmt.Errorf("mail: starttls must be auto, required or off, not %q", cfg.StartTLS)
	}
	if _, err := mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("mail: from address %q: %w", cfg.From, err)
	}
	if cfg.StartTLS == StartTLSOff && cfg.Username != "" && !isLocal(cfg.Host) {
		return nil, errors.New("mail: SMTP authentication without STARTTLS is only allowed to localhost")
	}
	return &SMTP{cfg: cfg}, nil
}

func isLocal(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send submits m.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	from, err := mail.ParseAddress(s.cfg.From)
	if err != nil {
		return err
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("mail: recipient: %w", err)
	}
	body, err := compose(from, to, m, time.Now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mail: dial %s: %w", addr, err)
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		return fmt.Errorf("mail: %s: %w", addr, err)
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return fmt.Errorf("mail: EHLO: %w", err)
	}
	tlsOn := false
	if ok, _ := c.Extension("STARTTLS"); ok && s.cfg.StartTLS != StartTLSOff {
		tc := &tls.Config{}
		if s.cfg.TLSConfig != nil {
			tc = s.cfg.TLSConfig.Clone()
		}
		tc.ServerName = s.cfg.Host
		if err := c.StartTLS(tc); err != nil {
			return fmt.Errorf("mail: STARTTLS: %w", err)
		}
		tlsOn = true
	} else if s.cfg.StartTLS == StartTLSRequired {
		return fmt.Errorf("mail: %s does not offer STARTTLS", addr)
	}
	if s.cfg.Username != "" {
		if !tlsOn && !isLocal(s.cfg.Host) {
			return fmt.Errorf("mail: %s does not offer STARTTLS; not sending the password in the clear", addr)
		}
		if err := c.Auth(s.auth(c)); err != nil {
			return fmt.Errorf("mail: AUTH: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("mail: RCPT TO: %w", err)
	}
	wc, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := wc.Write(body); err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if err := wc.Close(); err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	return c.Quit()
}

// auth picks PLAIN, or LOGIN when the server offers only that. net/smtp's
// PlainAuth refuses unencrypted connections except to localhost, as does
// Send above.
func (s *SMTP) auth(c *smtp.Client) smtp.Auth {
	if ok, mechs := c.Extension("AUTH"); ok {
		fields := strings.Fields(strings.ToUpper(mechs))
		if !contains(fields, "PLAIN") && contains(fields, "LOGIN") {
			return &loginAuth{user: s.cfg.Username, pass: s.cfg.Password}
		}
	}
	return smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

type loginAuth struct{ user, pass string }

func (a *loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) { return "LOGIN", nil, nil }

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch strings.ToLower(strings.TrimSpace(string(fromServer))) {
	case "username:":
		return []byte(a.user), nil
	case "password:":
		return []byte(a.pass), nil
	}
	return nil, fmt.Errorf("mail: unexpected LOGIN challenge %q", fromServer)
}

func helloName() string {
	return "localhost"
}

// compose renders m as an RFC 5322 message: text only, or
// multipart/alternative with the HTML part last.
func compose(from, to *mail.Address, m *Message, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from.String())
	hdr("To", to.String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+randomHex(16)+"@"+domainOf(from.Address)+">")
	hdr("MIME-Version", "1.0")
	hdr("Auto-Submitted", "auto-generated")
	part := func(ctype, body string) error {
		fmt.Fprintf(&b, "Content-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", ctype)
		w := quotedprintable.NewWriter(&b)
		if _, err := w.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n"))); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		b.WriteString("\r\n")
		return nil
	}
	if m.HTML == "" {
		return b.Bytes(), part("text/plain", m.Text)
	}
	boundary := "atrium-" + randomHex(12)
	hdr("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, p := range []struct{ ctype, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		b.WriteString("--" + boundary + "\r\n")
		if err := part(p.ctype, p.body); err != nil {
			return nil, err
		}
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Log is a Sender that writes each mail to a logger instead of sending
// it: for --dev, and for servers with no SMTP configured (where only the
// recipient and subject are logged).
type Log struct {
	Logger *slog.Logger
	// Content logs the mail's text too. Its links are secrets (a reset
	// link signs in whoever opens it): for development only.
	Content bool
}

// Send logs m.
func (l Log) Send(ctx context.Context, m *Message) error {
	if !l.Content {
		l.Logger.WarnContext(ctx, "mail not sent: no SMTP server configured", "to", m.To, "subject", m.Subject)
		return nil
	}
	l.Logger.InfoContext(ctx, "mail not sent (no SMTP server configured); its content follows",
		"to", m.To, "subject", m.Subject, "text", m.Text)
	return nil
}

//go:embed templates/*
var templateFS embed.FS

var (
	textTemplates = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/*.txt"))
	htmlTemplates = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/*.html"))
)

// Render builds the message of the template name (verify_email,
// reset_password, signup_exists, email_changed) to to, with data for its
// fields.
// The first line of the text template is the subject.
func Render(name, to string, data any) (*Message, error) {
	return RenderLang(name, "en", to, data)
}

// RenderLang is Render in the language tag lang ("de"): the templates
// <name>.<lang>.txt and .html when there are, the English ones otherwise.
func RenderLang(name, lang, to string, data any) (*Message, error) {
	if textTemplates.Lookup(name+"."+lang+".txt") != nil && htmlTemplates.Lookup(name+"."+lang+".html") != nil {
		name += "." + lang
	}
	var t, h bytes.Buffer
	if err := textTemplates.ExecuteTemplate(&t, name+".txt", data); err != nil {
		return nil, fmt.Errorf("mail: template %s: %w", name, err)
	}
	if err := htmlTemplates.ExecuteTemplate(&h, name+".html", data); err != nil {
		return nil, fmt.Errorf("mail: template %s: %w", name, err)
	}
	subject, text, _ := strings.Cut(t.String(), "\n")
	return &Message{To: to, Subject: strings.TrimPrefix(subject, "Subject: "), Text: strings.TrimLeft(text, "\n"), HTML: h.String()}, nil
}
