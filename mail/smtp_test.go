package mail_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/pulsehq/pulse"
	pmail "github.com/pulsehq/pulse/mail"
)

// relay is a real SMTP server (emersion/go-smtp) on a free loopback port
// that records what it accepts.
type relay struct {
	addr string
	tls  *tls.Config // the client's view: trusts the relay's certificate

	mu        sync.Mutex
	delivered []delivery
	authed    []string // users who authenticated
}

type delivery struct {
	from, to string
	data     []byte
	tls      bool // the message arrived over TLS
}

type relayOpts struct {
	implicitTLS bool   // TLS from the first byte (smtps)
	noTLS       bool   // offer no STARTTLS
	user, pass  string // required credentials; "" accepts no AUTH
	host        string // listen address; default 127.0.0.1
}

func startRelay(t *testing.T, o relayOpts) *relay {
	t.Helper()
	serverTLS, clientTLS := certificates(t)
	r := &relay{tls: clientTLS}
	s := smtp.NewServer(backend(func(c *smtp.Conn) (smtp.Session, error) { return &session{r: r, c: c, o: o}, nil }))
	s.Domain = "relay.test"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	if !o.noTLS {
		s.TLSConfig = serverTLS
	}
	host := o.host
	if host == "" {
		host = "127.0.0.1"
	}
	var l net.Listener
	var err error
	if o.implicitTLS {
		l, err = tls.Listen("tcp", net.JoinHostPort(host, "0"), serverTLS)
	} else {
		l, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(l) }()
	// Closing the listener too ends Serve even when it had not yet
	// registered the listener for Close to find.
	t.Cleanup(func() { s.Close(); l.Close(); <-done })
	return r
}

func (r *relay) mails() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.delivered...)
}

type backend func(*smtp.Conn) (smtp.Session, error)

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) { return b(c) }

type session struct {
	r        *relay
	c        *smtp.Conn
	o        relayOpts
	authed   bool
	from, to string
}

func (s *session) AuthMechanisms() []string {
	if s.o.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.o.user || pass != s.o.pass {
			return errors.New("invalid credentials")
		}
		s.authed = true
		s.r.mu.Lock()
		s.r.authed = append(s.r.authed, user)
		s.r.mu.Unlock()
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.o.user != "" && !s.authed {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.c.TLSConnectionState()
	s.r.mu.Lock()
	s.r.delivered = append(s.r.delivered, delivery{from: s.from, to: s.to, data: b, tls: isTLS})
	s.r.mu.Unlock()
	return nil
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

// certificates makes a self-signed certificate for 127.0.0.1 and
// localhost: the server's configuration and a client configuration that
// trusts it.
func certificates(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

// TestSMTPDeliversOverTLS: through a relay that wants STARTTLS and PLAIN
// authentication, and one that speaks TLS from the start, the mail
// arrives once, encrypted, from the configured sender, with the headers
// and text the Dir writes too.
func TestSMTPDeliversOverTLS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scheme string
		o      relayOpts
	}{
		{"starttls with auth", "smtp", relayOpts{user: "pulse", pass: "s3cret p@ss"}},
		{"implicit tls", "smtps", relayOpts{implicitTLS: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRelay(t, tc.o)
			u := tc.scheme + "://" + r.addr
			if tc.o.user != "" {
				u = tc.scheme + "://pulse:s3cret%20p%40ss@" + r.addr
			}
			at := time.Date(2026, 11, 29, 22, 0, 0, 0, time.UTC)
			s, err := pmail.NewSMTP(pmail.SMTPConfig{URL: u, From: "Pulse <hello@pulse.example>", TLS: r.tls,
				Clock: func() time.Time { return at }})
			if err != nil {
				t.Fatal(err)
			}
			text := "Open this link:\n\nhttps://pulse.example/#/verify?token=abc\n"
			if err := s.Send(t.Context(), pulse.Mail{To: "ada@example.com", Subject: "Finish créating", Text: text}); err != nil {
				t.Fatal(err)
			}
			got := r.mails()
			if len(got) != 1 {
				t.Fatalf("%d mails delivered, want 1", len(got))
			}
			d := got[0]
			if d.from != "hello@pulse.example" || d.to != "ada@example.com" || !d.tls {
				t.Fatalf("envelope from %q to %q over TLS %v", d.from, d.to, d.tls)
			}
			if tc.o.user != "" && (len(r.authed) != 1 || r.authed[0] != "pulse") {
				t.Fatalf("authenticated users %v, want [pulse]", r.authed)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(d.data))
			if err != nil {
				t.Fatal(err)
			}
			subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			date, _ := msg.Header.Date()
			body, _ := io.ReadAll(msg.Body)
			if msg.Header.Get("From") != "Pulse <hello@pulse.example>" || msg.Header.Get("To") != "ada@example.com" ||
				subject != "Finish créating" || !date.Equal(at) || strings.ReplaceAll(string(body), "\r\n", "\n") != text {
				t.Fatalf("message: headers %v, body %q", msg.Header, body)
			}
		})
	}
}

// TestSMTPRefusals: wrong credentials, a header injection and a relay that
// offers no encryption off loopback each fail the mail, deliver nothing,
// and the error never carries the password.
func TestSMTPRefusals(t *testing.T) {
	t.Run("wrong password", func(t *testing.T) {
		r := startRelay(t, relayOpts{user: "pulse", pass: "right"})
		s, err := pmail.NewSMTP(pmail.SMTPConfig{URL: "smtp://pulse:wrong-horse@" + r.addr, TLS: r.tls})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(t.Context(), pulse.Mail{To: "ada@example.com", Subject: "hi", Text: "x"})
		if err == nil || strings.Contains(err.Error(), "wrong-horse") || len(r.mails()) != 0 {
			t.Fatalf("send with a wrong password: %v, %d delivered", err, len(r.mails()))
		}
	})
	t.Run("header injection", func(t *testing.T) {
		r := startRelay(t, relayOpts{})
		s, err := pmail.NewSMTP(pmail.SMTPConfig{URL: "smtp://" + r.addr, TLS: r.tls})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(t.Context(), pulse.Mail{To: "ada@example.com\r\nBcc: eve@example.com", Subject: "hi", Text: "x"})
		if err == nil || len(r.mails()) != 0 {
			t.Fatalf("send with a line break in the recipient: %v, %d delivered", err, len(r.mails()))
		}
	})
	t.Run("no starttls off loopback", func(t *testing.T) {
		ip := nonLoopbackIP(t)
		r := startRelay(t, relayOpts{noTLS: true, host: ip})
		s, err := pmail.NewSMTP(pmail.SMTPConfig{URL: "smtp://" + r.addr})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(t.Context(), pulse.Mail{To: "ada@example.com", Subject: "hi", Text: "secret link"})
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") || len(r.mails()) != 0 {
			t.Fatalf("send to a relay without STARTTLS at %s: %v, %d delivered", ip, err, len(r.mails()))
		}
	})
}

// TestSMTPStopsAtTheContext: a relay that accepts the connection and never
// answers holds the mail no longer than the caller's context.
func TestSMTPStopsAtTheContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var conns sync.WaitGroup
	conns.Add(1)
	go func() {
		defer conns.Done()
		c, err := l.Accept()
		if err == nil {
			io.Copy(io.Discard, c) // never greets; returns when the client closes
			c.Close()
		}
	}()
	s, err := pmail.NewSMTP(pmail.SMTPConfig{URL: "smtp://" + l.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err = s.Send(ctx, pulse.Mail{To: "ada@example.com", Subject: "hi", Text: "x"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send to a silent relay: %v, want the context's deadline", err)
	}
	conns.Wait()
}

func TestNewSMTPRejectsBadConfigs(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  pmail.SMTPConfig
	}{
		{"empty", pmail.SMTPConfig{}},
		{"http scheme", pmail.SMTPConfig{URL: "http://relay.example"}},
		{"no host", pmail.SMTPConfig{URL: "smtp://"}},
		{"query", pmail.SMTPConfig{URL: "smtp://relay.example?insecure=1"}},
		{"bad sender", pmail.SMTPConfig{URL: "smtp://relay.example", From: "not an address"}},
		{"unparsable, with password", pmail.SMTPConfig{URL: "smtp://u:hunter2@relay example:25"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pmail.NewSMTP(tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

// nonLoopbackIP returns an address of this machine that is not loopback,
// or skips the test on a machine without one.
func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address")
	return ""
}
