package topics

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	json "github.com/go-json-experiment/json/v1"
)

// The sink decodes every AccountSnapshot and Post; these decoders read the
// encoding the hand-written encoders write (any field order, unknown fields
// skipped) without reflection. Whatever they do not handle exactly as
// json.Unmarshal would (a name in another case, a duplicate name, invalid
// UTF-8, a value of the wrong type, a snapshot's insights) is decoded by
// json.Unmarshal instead, so the result is json.Unmarshal's in every case
// (a fuzz test compares them).

// errFallback makes a hand-written decoder hand over to json.Unmarshal.
var errFallback = errors.New("topics: not handled by hand")

// fieldDecoder reads the values of one object's fields.
type fieldDecoder struct {
	d *jsontext.Decoder
}

// decoders are reused: a jsontext.Decoder is larger than a post.
var decoders = sync.Pool{New: func() any { return new(jsontext.Decoder) }}

func newFieldDecoder(d *jsontext.Decoder, b []byte) (fieldDecoder, error) {
	// Duplicate names: the last wins, as in json.Unmarshal (no field
	// here is a composite that would merge).
	d.Reset(bytes.NewBuffer(b), jsontext.AllowDuplicateNames(true))
	tok, err := d.ReadToken()
	if err != nil || tok.Kind() != '{' {
		return fieldDecoder{}, errFallback
	}
	return fieldDecoder{d: d}, nil
}

// next returns the next field's name (it aliases the input), or nil at
// the end of the object (after checking that nothing follows it).
func (f fieldDecoder) next() ([]byte, error) {
	if f.d.PeekKind() != '"' {
		if tok, err := f.d.ReadToken(); err != nil || tok.Kind() != '}' {
			return nil, errFallback
		}
		if _, err := f.d.ReadToken(); err != io.EOF {
			return nil, errFallback
		}
		return nil, nil
	}
	raw, err := f.d.ReadValue()
	if err != nil || len(raw) < 3 || bytes.IndexByte(raw, '\\') >= 0 {
		return nil, errFallback // an empty or escaped name: json.Unmarshal's business
	}
	return raw[1 : len(raw)-1], nil
}

// unknown skips an unknown field's value, unless its name matches a
// known one but for case (json.Unmarshal matches names in any case).
func (f fieldDecoder) unknown(name []byte, known []string) error {
	for _, k := range known {
		if strings.EqualFold(string(name), k) {
			return errFallback
		}
	}
	if f.d.SkipValue() != nil {
		return errFallback
	}
	return nil
}

func (f fieldDecoder) int64(dst *int64) error {
	raw, err := f.d.ReadValue()
	if err != nil {
		return errFallback
	}
	switch raw.Kind() {
	case 'n':
		return nil
	case '0':
		n, ok := parseInt(raw)
		if !ok {
			return errFallback
		}
		*dst = n
		return nil
	}
	return errFallback
}

// parseInt parses a JSON number that is a plain integer within int64.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 { // longer: strconv decides
		n, err := strconv.ParseInt(string(b), 10, 64)
		if neg {
			n, err = strconv.ParseInt("-"+string(b), 10, 64)
		}
		return n, err == nil
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func (f fieldDecoder) int(dst *int) error {
	var n int64
	if err := f.int64(&n); err != nil {
		return err
	}
	if n != int64(int(n)) {
		return errFallback
	}
	*dst = int(n)
	return nil
}

func (f fieldDecoder) string(dst *string) error {
	tok, err := f.d.ReadToken()
	if err != nil {
		return errFallback
	}
	switch tok.Kind() {
	case 'n':
		return nil
	case '"':
		*dst = tok.String()
		return nil
	}
	return errFallback
}

func (f fieldDecoder) platform(dst *Platform) error {
	s := string(*dst)
	err := f.string(&s)
	*dst = Platform(s)
	return err
}

func (f fieldDecoder) bool(dst *bool) error {
	tok, err := f.d.ReadToken()
	if err != nil {
		return errFallback
	}
	switch tok.Kind() {
	case 'n':
		return nil
	case 't', 'f':
		*dst = tok.Bool()
		return nil
	}
	return errFallback
}

// time reads a time as json.Unmarshal does, with time.Time's
// UnmarshalJSON.
func (f fieldDecoder) time(dst *time.Time) error {
	raw, err := f.d.ReadValue()
	if err != nil {
		return errFallback
	}
	switch raw.Kind() {
	case 'n':
		return nil
	case '"':
		if dst.UnmarshalJSON(raw) != nil {
			return errFallback
		}
		return nil
	}
	return errFallback
}

// decodeByHand runs fields over b's object; on errFallback it decodes b
// with json.Unmarshal into a fresh value instead.
func decodeByHand[T any](v *T, b []byte, fields func(f fieldDecoder, name []byte) error) error {
	d := decoders.Get().(*jsontext.Decoder)
	err := func() error {
		f, err := newFieldDecoder(d, b)
		if err != nil {
			return err
		}
		for {
			name, err := f.next()
			if err != nil {
				return err
			}
			if name == nil {
				return nil
			}
			if err := fields(f, name); err != nil {
				return err
			}
		}
	}()
	d.Reset(emptyReader{}) // drops b
	decoders.Put(d)
	if err == nil {
		return nil
	}
	*v = *new(T)
	return json.Unmarshal(b, v)
}

var snapshotFields = []string{"v", "link_id", "user_id", "platform", "account_id", "handle", "hour", "observed_at",
	"followers", "following", "posts_count", "recent_posts", "recent_engagement", "version", "posts_skipped",
	"history", "posts_incremental", "insights"}

// decodeJSON implements handDecoded.
func (s *AccountSnapshot) decodeJSON(b []byte) ([]string, error) {
	return nil, decodeByHand(s, b, func(f fieldDecoder, name []byte) error {
		switch string(name) {
		case "v":
			return f.int(&s.V)
		case "link_id":
			return f.string(&s.LinkID)
		case "user_id":
			return f.string(&s.UserID)
		case "platform":
			return f.platform(&s.Platform)
		case "account_id":
			return f.string(&s.AccountID)
		case "handle":
			return f.string(&s.Handle)
		case "hour":
			return f.time(&s.Hour)
		case "observed_at":
			return f.time(&s.ObservedAt)
		case "followers":
			return f.int64(&s.Followers)
		case "following":
			return f.int64(&s.Following)
		case "posts_count":
			return f.int64(&s.PostsCount)
		case "recent_posts":
			return f.int(&s.RecentPosts)
		case "recent_engagement":
			return f.int64(&s.RecentEngagement)
		case "version":
			return f.int64(&s.Version)
		case "posts_skipped":
			return f.bool(&s.PostsSkipped)
		case "history":
			return f.bool(&s.History)
		case "posts_incremental":
			return f.bool(&s.PostsIncremental)
		case "insights":
			return errFallback
		}
		return f.unknown(name, snapshotFields)
	})
}

var postFields = []string{"v", "link_id", "user_id", "platform", "account_id", "post_id", "created_at", "observed_at",
	"text", "permalink", "likes", "comments", "shares", "views", "version", "reach", "saves"}

// decodeJSON implements handDecoded.
func (p *Post) decodeJSON(b []byte) ([]string, error) {
	return nil, decodeByHand(p, b, func(f fieldDecoder, name []byte) error {
		switch string(name) {
		case "v":
			return f.int(&p.V)
		case "link_id":
			return f.string(&p.LinkID)
		case "user_id":
			return f.string(&p.UserID)
		case "platform":
			return f.platform(&p.Platform)
		case "account_id":
			return f.string(&p.AccountID)
		case "post_id":
			return f.string(&p.PostID)
		case "created_at":
			return f.time(&p.CreatedAt)
		case "observed_at":
			return f.time(&p.ObservedAt)
		case "text":
			return f.string(&p.Text)
		case "permalink":
			return f.string(&p.Permalink)
		case "likes":
			return f.int64(&p.Likes)
		case "comments":
			return f.int64(&p.Comments)
		case "shares":
			return f.int64(&p.Shares)
		case "views":
			return f.int64(&p.Views)
		case "version":
			return f.int64(&p.Version)
		case "reach":
			return f.int64(&p.Reach)
		case "saves":
			return f.int64(&p.Saves)
		}
		return f.unknown(name, postFields)
	})
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, io.EOF }
