package topics

import (
	"time"

	json "github.com/go-json-experiment/json/v1"

	"github.com/pulsehq/pulse/internal/jsonscan"
)

// The sink decodes every AccountSnapshot and Post; these decoders read the
// encoding the hand-written encoders write (any field order, unknown fields
// skipped) without reflection. Whatever they do not handle exactly as
// json.Unmarshal would (a name in another case, a duplicate name, invalid
// UTF-8, a value of the wrong type, a snapshot's insights) is decoded by
// json.Unmarshal instead, so the result is json.Unmarshal's in every case
// (a fuzz test compares them).

// errFallback makes a hand-written decoder hand over to json.Unmarshal.
var errFallback = jsonscan.ErrFallback

// fieldDecoder reads the values of one object's fields. Duplicate names:
// the last wins, as in json.Unmarshal (no field here is a composite that
// would merge).
type fieldDecoder struct {
	s *jsonscan.Scanner
}

// unknown skips an unknown field's value, unless its name matches a
// known one but for case (json.Unmarshal matches names in any case).
func (f fieldDecoder) unknown(name []byte, known []string) error {
	return f.s.Unknown(name, known...)
}

func (f fieldDecoder) int64(dst *int64) error { return f.s.Int64(dst) }

func (f fieldDecoder) int(dst *int) error {
	n := int64(*dst)
	if err := f.s.Int64(&n); err != nil {
		return err
	}
	if n != int64(int(n)) {
		return errFallback
	}
	*dst = int(n)
	return nil
}

func (f fieldDecoder) string(dst *string) error { return f.s.String(dst) }

func (f fieldDecoder) platform(dst *Platform) error {
	s := string(*dst)
	err := f.s.String(&s)
	*dst = Platform(s)
	return err
}

func (f fieldDecoder) bool(dst *bool) error { return f.s.Bool(dst) }

// time reads a time as json.Unmarshal does, with time.Time's
// UnmarshalJSON.
func (f fieldDecoder) time(dst *time.Time) error {
	raw, err := f.s.Quoted()
	if err != nil || raw == nil {
		return err
	}
	if dst.UnmarshalJSON(raw) != nil {
		return errFallback
	}
	return nil
}

// decodeByHand runs fields over b's object; on errFallback it decodes b
// with json.Unmarshal into a fresh value instead.
func decodeByHand[T any](v *T, b []byte, fields func(f fieldDecoder, name []byte) error) error {
	s := jsonscan.New(b)
	err := s.Object(func(name []byte) error { return fields(fieldDecoder{s}, name) })
	if err == nil {
		err = s.End()
	}
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
