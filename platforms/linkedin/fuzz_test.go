package linkedin

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pulsehq/pulse/platforms/internal/httpx"
)

// The parsers decode bodies from the network: they must never panic, and
// whatever they accept must satisfy their contract. Seeds: the samples of
// the parse tests and testdata/fuzz (simulator answers and LinkedIn's
// documented bodies).

func FuzzParseAccount(f *testing.F) {
	f.Add([]byte(accountSample))
	f.Add([]byte(`{"organization":{"id":1}}`))
	c := &Connector{}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := c.ParseAccount(body)
		if err == nil && (!validID(a.ID) || a.Followers < 0 || a.Following != 0 || a.PostsCount != 0) {
			t.Errorf("accepted %q as %+v", body, a)
		}
		// What Fetch accepts, ParseAccount accepts.
		var env accountEnvelope
		var org organizationBody
		var ns networkSizeBody
		if httpx.DecodeObject(body, &env) == nil && httpx.DecodeObject(env.Organization, &org) == nil && org.orgID() != "" &&
			httpx.DecodeObject(env.NetworkSizes, &ns) == nil && ns.FirstDegreeSize != nil && ns.validate() == nil && err != nil {
			t.Errorf("Fetch would accept %q, ParseAccount rejects it: %v", body, err)
		}
	})
}

func FuzzParsePosts(f *testing.F) {
	f.Add([]byte(postsSample))
	f.Add([]byte(`{"posts":{"elements":[]}}`))
	c := &Connector{}
	f.Fuzz(func(t *testing.T, body []byte) {
		posts, err := c.ParsePosts(body)
		for _, p := range posts {
			if p.ID == "" || !strings.HasPrefix(p.Permalink, permalinkPrefix) ||
				p.Likes < 0 || p.Comments < 0 || p.Shares < 0 || p.Views < 0 || !utf8.ValidString(p.Text) {
				t.Errorf("accepted %q with post %+v", body, p)
			}
		}
		// What Fetch accepts, ParsePosts accepts.
		var env postsEnvelope
		var page postsBody
		var sb statisticsBody
		if err != nil && httpx.DecodeObject(body, &env) == nil &&
			httpx.DecodeObject(env.Posts, &page) == nil && page.validate() == nil &&
			(len(env.Statistics) == 0 || httpx.DecodeObject(env.Statistics, &sb) == nil && sb.validate() == nil) {
			t.Errorf("Fetch would accept %q, ParsePosts rejects it: %v", body, err)
		}
	})
}

func FuzzParseError(f *testing.F) {
	f.Add([]byte(`{"status":429,"code":"TOO_MANY_REQUESTS","message":"Resource level throttle APPLICATION DAY limit for calls to this resource is reached."}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e := ParseError(body)
		if e == nil {
			return
		}
		if msg := e.describe(); msg == "" || len(msg) > 403 || strings.ContainsAny(msg, "\r\n\t") || !utf8.ValidString(msg) {
			t.Errorf("ParseError(%q).describe() = %q", body, msg)
		}
	})
}

// escapeLittle escapes every reserved character of LinkedIn's little text
// format, as a writer of commentary must.
func escapeLittle(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\|{}@[]()<>#*_~`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func FuzzPlainText(f *testing.F) {
	for _, s := range []string{
		`Q\&A {hashtag|\#|golang} @[Pulse](urn:li:organization:1) \(soon\)`, `{hashtag|\#|`, `@[a](`, `\`, "\xff\\\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := PlainText(s)
		if len(got) > len(s) || utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Errorf("PlainText(%q) = %q", s, got)
		}
		if utf8.ValidString(s) {
			if back := PlainText(escapeLittle(s)); back != s {
				t.Errorf("PlainText(escape(%q)) = %q", s, back)
			}
		}
	})
}

func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "1764064800000", "0", "-1", "99999999999999", "01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseCursor(s)
		if err == nil && s != "" && (n <= 0 || strconv.FormatInt(n, 10) != s) {
			t.Errorf("ParseCursor(%q) = %d", s, n)
		}
	})
}
