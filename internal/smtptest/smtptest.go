// Package smtptest is a minimal SMTP server for tests: it listens on a
// loopback port, speaks EHLO, STARTTLS (optional), AUTH PLAIN and LOGIN,
// MAIL, RCPT, DATA, RSET, NOOP and QUIT, and keeps every message it
// accepts for the test to read.
package smtptest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is a message the server accepted.
type Message struct {
	From     string
	To       []string
	Data     []byte // as received, dot-unstuffed
	TLS      bool   // STARTTLS was used
	AuthUser string // the user of a successful AUTH, "" without
	Subject  string
	Text     string // the decoded text/plain part
	HTML     string // the decoded text/html part
}

// Options configure a Server.
type Options struct {
	// TLS offers STARTTLS with a certificate for 127.0.0.1 and localhost;
	// use Server.ClientTLS to trust it.
	TLS bool
	// Username and Password, when set, are required through AUTH.
	Username, Password string
}

// Server is a running test SMTP server.
type Server struct {
	t    testing.TB
	ln   net.Listener
	opts Options
	tls  *tls.Config
	pool *x509.CertPool

	mu   sync.Mutex
	msgs []*Message
	wake chan struct{}
	wg   sync.WaitGroup
}

// Start starts a server on 127.0.0.1; it stops when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, ln: ln, opts: opts, wake: make(chan struct{})}
	if opts.TLS {
		// httptest's certificate is valid for 127.0.0.1 and example.com.
		ts := httptest.NewUnstartedServer(nil)
		ts.StartTLS()
		s.tls = &tls.Config{Certificates: ts.TLS.Certificates}
		s.pool = x509.NewCertPool()
		s.pool.AddCert(ts.Certificate())
		ts.Close()
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() { _ = ln.Close(); s.wg.Wait() })
	return s
}

// Host and Port are where the server listens.
func (s *Server) Host() string { return "127.0.0.1" }

// Port is the server's port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// ClientTLS trusts the server's certificate (nil without Options.TLS).
func (s *Server) ClientTLS() *tls.Config {
	if s.pool == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.pool}
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.msgs...)
}

// WaitFor returns the first accepted message to addr for which match
// (when not nil; it must not call the server's methods) holds, waiting up to 10 seconds, and fails the test
// without one.
func (s *Server) WaitFor(addr string, match func(*Message) bool) *Message {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		wake := s.wake
		for _, m := range s.msgs {
			for _, to := range m.To {
				if strings.EqualFold(to, addr) && (match == nil || match(m)) {
					s.mu.Unlock()
					return m
				}
			}
		}
		s.mu.Unlock()
		select {
		case <-wake:
		case <-deadline:
			s.t.Fatalf("smtptest: no message to %s within 10s", addr)
			return nil
		}
	}
}

func (s *Server) add(m *Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			s.session(c)
		}()
	}
}

func (s *Server) session(c net.Conn) {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	reply := func(lines ...string) {
		for _, l := range lines {
			_, _ = w.WriteString(l + "\r\n")
		}
		_ = w.Flush()
	}
	readLine := func() (string, bool) {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", false
		}
		return strings.TrimRight(l, "\r\n"), true
	}
	reply("220 smtptest ESMTP")
	var (
		tlsOn  bool
		user   string
		from   string
		to     []string
		helloD bool
	)
	for {
		line, ok := readLine()
		if !ok {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			helloD = true
			ext := []string{"250-smtptest", "250-8BITMIME"}
			if s.tls != nil && !tlsOn {
				ext = append(ext, "250-STARTTLS")
			}
			if s.opts.Username != "" {
				ext = append(ext, "250-AUTH PLAIN LOGIN")
			}
			ext = append(ext, "250 SMTPUTF8")
			reply(ext...)
		case "STARTTLS":
			if s.tls == nil || tlsOn {
				reply("502 not offered")
				continue
			}
			reply("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, tlsOn = tc, true
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
			helloD, user, from, to = false, "", "", nil
		case "AUTH":
			if !helloD || s.opts.Username == "" {
				reply("503 no AUTH here")
				continue
			}
			mech, initial, _ := strings.Cut(arg, " ")
			var u, p string
			switch strings.ToUpper(mech) {
			case "PLAIN":
				if initial == "" {
					reply("334 ")
					initial, _ = readLine()
				}
				b, err := base64.StdEncoding.DecodeString(initial)
				parts := strings.Split(string(b), "\x00")
				if err != nil || len(parts) != 3 {
					reply("501 bad PLAIN response")
					continue
				}
				u, p = parts[1], parts[2]
			case "LOGIN":
				reply("334 " + base64.StdEncoding.EncodeToString([]byte("Username:")))
				l1, _ := readLine()
				reply("334 " + base64.StdEncoding.EncodeToString([]byte("Password:")))
				l2, _ := readLine()
				bu, _ := base64.StdEncoding.DecodeString(l1)
				bp, _ := base64.StdEncoding.DecodeString(l2)
				u, p = string(bu), string(bp)
			default:
				reply("504 unknown mechanism")
				continue
			}
			if u != s.opts.Username || p != s.opts.Password {
				reply("535 authentication failed")
				continue
			}
			user = u
			reply("235 authenticated")
		case "MAIL":
			if s.opts.Username != "" && user == "" {
				reply("530 authentication required")
				continue
			}
			from = addrArg(arg, "FROM:")
			to = nil
			reply("250 ok")
		case "RCPT":
			if from == "" {
				reply("503 MAIL first")
				continue
			}
			to = append(to, addrArg(arg, "TO:"))
			reply("250 ok")
		case "DATA":
			if len(to) == 0 {
				reply("503 RCPT first")
				continue
			}
			reply("354 end with .")
			var data strings.Builder
			for {
				l, ok := readLine()
				if !ok {
					return
				}
				if l == "." {
					break
				}
				data.WriteString(strings.TrimPrefix(l, ".") + "\r\n")
			}
			m := &Message{From: from, To: to, Data: []byte(data.String()), TLS: tlsOn, AuthUser: user}
			parse(m)
			s.add(m)
			from, to = "", nil
			reply("250 queued")
		case "RSET":
			from, to = "", nil
			reply("250 ok")
		case "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

func addrArg(arg, prefix string) string {
	if len(arg) >= len(prefix) && strings.EqualFold(arg[:len(prefix)], prefix) {
		arg = arg[len(prefix):]
	}
	arg, _, _ = strings.Cut(strings.TrimSpace(arg), " ")
	return strings.Trim(arg, "<>")
}

// parse fills the subject and the decoded text and HTML parts.
func parse(m *Message) {
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		return
	}
	dec := new(mime.WordDecoder)
	if subj, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
		m.Subject = subj
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		mt = "text/plain"
	}
	body := func(enc string, r io.Reader) string {
		if strings.EqualFold(enc, "quoted-printable") {
			r = quotedprintable.NewReader(r)
		}
		b, _ := io.ReadAll(r)
		return strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	if !strings.HasPrefix(mt, "multipart/") {
		m.Text = body(msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		return
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			return
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		text := body(p.Header.Get("Content-Transfer-Encoding"), p)
		switch pt {
		case "text/plain":
			m.Text = text
		case "text/html":
			m.HTML = text
		}
	}
}
