package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/smtp"
	"net/url"
	"time"

	"github.com/pulsehq/pulse"
)

// SMTP sends each mail through an SMTP relay (a mail service's submission
// endpoint, or the organisation's relay). It opens one connection per
// mail: sign-up mails are rare, and a relay closes idle connections. Safe
// for concurrent use.
//
// The connection is always encrypted unless the relay is on a loopback
// address: smtps:// uses TLS from the first byte; smtp:// requires the
// relay to offer STARTTLS and upgrades before authenticating, so a sign-up
// link and the relay's password never cross a network in clear.
type SMTP struct {
	addr     string // host:port
	host     string
	implicit bool // smtps://
	auth     smtp.Auth
	from     string // the From header
	envFrom  string // the envelope sender (MAIL FROM), From's address
	tls      *tls.Config
	timeout  time.Duration
	clock    func() time.Time
}

// SMTPConfig configures an SMTP sender.
type SMTPConfig struct {
	// URL of the relay, required: smtp://[user:password@]host[:port]
	// (port default 587, STARTTLS required unless host is a loopback
	// address) or smtps://[user:password@]host[:port] (port default 465,
	// TLS from the start). With a user, the sender authenticates with
	// PLAIN over the encrypted connection. The URL holds a password: it
	// is never logged, and errors name only its host.
	URL string
	// From is the sender, as the From header shows it. Default
	// "Pulse <no-reply@pulse.local>"; its address is also the envelope
	// sender.
	From string
	// Timeout bounds one mail's whole conversation with the relay, within
	// the caller's context. Default 30 s.
	Timeout time.Duration
	// TLS is the TLS configuration (its ServerName is set to the relay's
	// host when empty). Default: the system's roots.
	TLS *tls.Config
	// Clock dates the mails. Default time.Now.
	Clock func() time.Time
}

// NewSMTP validates cfg. It does not connect: a relay that is down fails
// the mails sent meanwhile, not the start of the API.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// url.Parse's error repeats the URL, password included.
		return nil, errors.New("mail: smtp: the relay URL does not parse")
	}
	s := &SMTP{host: u.Hostname(), timeout: cfg.Timeout, clock: cfg.Clock, from: cfg.From}
	port := u.Port()
	switch u.Scheme {
	case "smtp":
		if port == "" {
			port = "587"
		}
	case "smtps":
		s.implicit = true
		if port == "" {
			port = "465"
		}
	default:
		return nil, fmt.Errorf("mail: smtp: URL scheme %q, want smtp or smtps", u.Scheme)
	}
	if s.host == "" {
		return nil, errors.New("mail: smtp: the relay URL names no host")
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return nil, errors.New("mail: smtp: the relay URL takes no path or query")
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		pass, _ := u.User.Password()
		s.auth = smtp.PlainAuth("", u.User.Username(), pass, s.host)
	}
	if s.from == "" {
		s.from = "Pulse <no-reply@pulse.local>"
	}
	a, err := netmail.ParseAddress(s.from)
	if err != nil {
		return nil, fmt.Errorf("mail: smtp: sender %q: %w", s.from, err)
	}
	s.envFrom = a.Address
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	s.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		s.tls = cfg.TLS.Clone()
	}
	if s.tls.ServerName == "" {
		s.tls.ServerName = s.host
	}
	return s, nil
}

// Send delivers m to the relay: it returns nil once the relay has accepted
// the message for delivery. Errors name the relay's host, never its
// credentials, and never the mail's text (which may hold a sign-up link).
func (s *SMTP) Send(ctx context.Context, m pulse.Mail) error {
	msg, err := message(s.from, m, s.clock().UTC())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.send(ctx, m.To, msg); err != nil {
		return fmt.Errorf("mail: smtp %s: %w", s.host, err)
	}
	return nil
}

func (s *SMTP) send(ctx context.Context, to string, msg []byte) error {
	var conn net.Conn
	var err error
	if s.implicit {
		conn, err = (&tls.Dialer{Config: s.tls}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return err
	}
	// The context bounds the whole conversation: when it ends (deadline
	// or cancellation), the connection is closed under the client.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return ctxErr(ctx, err)
	}
	defer c.Close()
	if !s.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tls); err != nil {
				return ctxErr(ctx, fmt.Errorf("starttls: %w", err))
			}
		} else if !loopback(s.host) {
			return errors.New("the relay offers no STARTTLS; refusing to send in clear")
		}
	}
	if s.auth != nil {
		if err := c.Auth(s.auth); err != nil {
			return ctxErr(ctx, fmt.Errorf("auth: %w", err))
		}
	}
	if err := c.Mail(s.envFrom); err != nil {
		return ctxErr(ctx, fmt.Errorf("mail from: %w", err))
	}
	rcpt := to
	if a, err := netmail.ParseAddress(to); err == nil {
		rcpt = a.Address
	}
	if err := c.Rcpt(rcpt); err != nil {
		return ctxErr(ctx, fmt.Errorf("rcpt to: %w", err))
	}
	w, err := c.Data()
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("data: %w", err))
	}
	if _, err := w.Write(msg); err != nil {
		return ctxErr(ctx, fmt.Errorf("data: %w", err))
	}
	if err := w.Close(); err != nil {
		return ctxErr(ctx, fmt.Errorf("data: %w", err))
	}
	return ctxErr(ctx, c.Quit())
}

// ctxErr prefers the context's error: a conversation cut short by the
// context fails with a closed connection, which says less.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
