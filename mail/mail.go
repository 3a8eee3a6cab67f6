// Package mail delivers the mails Pulse sends (sign-up links and notices,
// through api.Mailer) without a mail server of its own: Dir writes each
// mail as an RFC 5322 message file into a pickup directory, which a mail
// transfer agent (or a developer) reads. A sender for an SMTP relay or a
// mail service plugs in behind the same interface.
package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pulsehq/pulse"
)

// Dir writes mails into a directory, one file per mail. Safe for
// concurrent use.
type Dir struct {
	path  string
	from  string
	clock func() time.Time
}

// DirConfig configures a Dir.
type DirConfig struct {
	// Path of the directory, created (mode 0700) if missing. Required.
	Path string
	// From is the sender address. Default "Pulse <no-reply@pulse.local>".
	From string
	// Clock dates the mails. Default time.Now.
	Clock func() time.Time
}

// NewDir validates cfg and creates the directory.
func NewDir(cfg DirConfig) (*Dir, error) {
	if cfg.Path == "" {
		return nil, errors.New("mail: dir: path required")
	}
	if cfg.From == "" {
		cfg.From = "Pulse <no-reply@pulse.local>"
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if err := os.MkdirAll(cfg.Path, 0o700); err != nil {
		return nil, fmt.Errorf("mail: dir: %w", err)
	}
	return &Dir{path: cfg.Path, from: cfg.From, clock: cfg.Clock}, nil
}

// Send writes m to a new file <time>-<random>.eml (mode 0600: it may hold
// a sign-up link), complete before it appears under that name. It refuses
// a recipient or subject with line breaks (header injection).
func (d *Dir) Send(ctx context.Context, m pulse.Mail) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mail: send: %w", err)
	}
	now := d.clock().UTC()
	msg, err := message(d.from, m, now)
	if err != nil {
		return err
	}
	rnd := make([]byte, 6)
	rand.Read(rnd)
	name := now.Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(rnd) + ".eml"
	tmp, err := os.CreateTemp(d.path, ".tmp-*")
	if err != nil {
		return fmt.Errorf("mail: send: %w", err)
	}
	_, werr := tmp.Write(msg)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), filepath.Join(d.path, name))
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("mail: send: %w", werr)
	}
	return nil
}

// message formats m as an RFC 5322 message from from, dated now, with CRLF
// line ends. It refuses a mail without a recipient and a recipient or
// subject with line breaks (header injection).
func message(from string, m pulse.Mail, now time.Time) ([]byte, error) {
	if m.To == "" || strings.ContainsAny(m.To+m.Subject, "\r\n") {
		return nil, errors.New("mail: send: recipient required, and no line breaks in recipient or subject")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", from, m.To,
		mime.QEncoding.Encode("utf-8", m.Subject), now.Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n", "\r\n"))
	return []byte(b.String()), nil
}

// Path returns the directory.
func (d *Dir) Path() string { return d.path }
