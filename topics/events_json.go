package topics

import (
	"strconv"
	"time"

	json "github.com/go-json-experiment/json/v1"
)

// The encodings of AccountSnapshot and Post, the normalizer's output (one
// snapshot and a page of posts per fetch), are written by hand: the same
// bytes json.Marshal writes (a test compares them), without reflection.

func appendIntField(b []byte, name string, n int64) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, n, 10)
}

// appendJSON appends s's encoding to b. A snapshot with insights (rare:
// Meta's daily values) is encoded by reflection.
func (s *AccountSnapshot) appendJSON(b []byte) ([]byte, error) {
	if len(s.Insights) > 0 {
		out, err := json.Marshal(s)
		return append(b, out...), err
	}
	if err := checkTimes(s.Hour, s.ObservedAt); err != nil {
		return nil, err
	}
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(s.V), 10)
	b = appendField(b, "link_id", s.LinkID)
	b = appendField(b, "user_id", s.UserID)
	b = appendField(b, "platform", string(s.Platform))
	b = appendField(b, "account_id", s.AccountID)
	if s.Handle != "" {
		b = appendField(b, "handle", s.Handle)
	}
	b, _ = appendTimeField(b, "hour", s.Hour)
	b, _ = appendTimeField(b, "observed_at", s.ObservedAt)
	b = appendIntField(b, "followers", s.Followers)
	b = appendIntField(b, "following", s.Following)
	b = appendIntField(b, "posts_count", s.PostsCount)
	b = appendIntField(b, "recent_posts", int64(s.RecentPosts))
	b = appendIntField(b, "recent_engagement", s.RecentEngagement)
	b = appendIntField(b, "version", s.Version)
	if s.PostsSkipped {
		b = append(b, `,"posts_skipped":true`...)
	}
	if s.History {
		b = append(b, `,"history":true`...)
	}
	if s.PostsIncremental {
		b = append(b, `,"posts_incremental":true`...)
	}
	return append(b, '}'), nil
}

// appendJSON appends p's encoding to b.
func (p *Post) appendJSON(b []byte) ([]byte, error) {
	if err := checkTimes(p.CreatedAt, p.ObservedAt); err != nil {
		return nil, err
	}
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(p.V), 10)
	b = appendField(b, "link_id", p.LinkID)
	b = appendField(b, "user_id", p.UserID)
	b = appendField(b, "platform", string(p.Platform))
	b = appendField(b, "account_id", p.AccountID)
	b = appendField(b, "post_id", p.PostID)
	b, _ = appendTimeField(b, "created_at", p.CreatedAt)
	b, _ = appendTimeField(b, "observed_at", p.ObservedAt)
	if p.Text != "" {
		b = appendField(b, "text", p.Text)
	}
	if p.Permalink != "" {
		b = appendField(b, "permalink", p.Permalink)
	}
	b = appendIntField(b, "likes", p.Likes)
	b = appendIntField(b, "comments", p.Comments)
	b = appendIntField(b, "shares", p.Shares)
	b = appendIntField(b, "views", p.Views)
	b = appendIntField(b, "version", p.Version)
	if p.Reach != 0 {
		b = appendIntField(b, "reach", p.Reach)
	}
	if p.Saves != 0 {
		b = appendIntField(b, "saves", p.Saves)
	}
	return append(b, '}'), nil
}

// checkTimes fails as json.Marshal does for a time it cannot encode.
func checkTimes(ts ...time.Time) error {
	for _, t := range ts {
		if y := t.Year(); y < 0 || y > 9999 {
			_, err := json.Marshal(t)
			return err
		}
	}
	return nil
}
