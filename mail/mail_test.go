package mail_test

import (
	"io"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/internal/testkit"
	pmail "github.com/pulsehq/pulse/mail"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

// TestDirWritesOneMessageFilePerMail: each mail becomes a complete RFC 5322
// message, readable only by its owner; header injection is refused.
func TestDirWritesOneMessageFilePerMail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	at := time.Date(2026, 11, 29, 21, 0, 0, 0, time.UTC)
	d, err := pmail.NewDir(pmail.DirConfig{Path: dir, Clock: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	text := "Open this link:\n\nhttp://127.0.0.1:8080/#/verify?token=abc\n"
	for _, to := range []string{"ada@example.com", "bob@example.com"} {
		if err := d.Send(t.Context(), pulse.Mail{To: to, Subject: "Finish créating", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(files) != 2 {
		t.Fatalf("mail files = %v, %v; want 2", files, err)
	}
	all, _ := os.ReadDir(dir)
	if len(all) != 2 {
		t.Fatalf("directory holds %d entries, want the 2 mails only", len(all))
	}
	fi, err := os.Stat(files[0])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, %v; want 0600", fi.Mode(), err)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatal(err)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subj != "Finish créating" {
		t.Errorf("subject = %q, %v", subj, err)
	}
	if date, err := msg.Header.Date(); err != nil || !date.Equal(at) {
		t.Errorf("date = %v, %v", date, err)
	}
	if to := msg.Header.Get("To"); to != "ada@example.com" && to != "bob@example.com" {
		t.Errorf("to = %q", to)
	}
	body, _ := io.ReadAll(msg.Body)
	if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != text {
		t.Errorf("body = %q, want %q", got, text)
	}

	for _, m := range []pulse.Mail{
		{To: "ada@example.com\r\nBcc: eve@example.com", Subject: "x", Text: "x"},
		{To: "ada@example.com", Subject: "x\nBcc: eve@example.com", Text: "x"},
		{Subject: "x", Text: "x"},
	} {
		if err := d.Send(t.Context(), m); err == nil {
			t.Errorf("Send(%+v) succeeded", m)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 2 {
		t.Errorf("refused mails left files: %v", files)
	}
}
