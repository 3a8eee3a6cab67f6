package sim

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// X API v2 read endpoints: GET /2/users/me and GET /2/users/:id/tweets.

// xTimeFormat is X's created_at format: RFC 3339, UTC, milliseconds.
const xTimeFormat = "2006-01-02T15:04:05.000Z"

type xUser struct {
	ID            string        `json:"id"`
	Name          string        `json:"name"`
	Username      string        `json:"username"`
	CreatedAt     string        `json:"created_at,omitempty"`
	Description   string        `json:"description,omitempty"`
	Protected     *bool         `json:"protected,omitempty"`
	Verified      *bool         `json:"verified,omitempty"`
	PublicMetrics *xUserMetrics `json:"public_metrics,omitempty"`
}

type xUserMetrics struct {
	FollowersCount int64 `json:"followers_count"`
	FollowingCount int64 `json:"following_count"`
	TweetCount     int64 `json:"tweet_count"`
	ListedCount    int64 `json:"listed_count"`
	LikeCount      int64 `json:"like_count"`
	MediaCount     int64 `json:"media_count"`
}

type xTweet struct {
	ID                  string         `json:"id"`
	Text                string         `json:"text"`
	EditHistoryTweetIDs []string       `json:"edit_history_tweet_ids"`
	AuthorID            string         `json:"author_id,omitempty"`
	CreatedAt           string         `json:"created_at,omitempty"`
	PublicMetrics       *xTweetMetrics `json:"public_metrics,omitempty"`
}

type xTweetMetrics struct {
	RetweetCount    int64 `json:"retweet_count"`
	ReplyCount      int64 `json:"reply_count"`
	LikeCount       int64 `json:"like_count"`
	QuoteCount      int64 `json:"quote_count"`
	BookmarkCount   int64 `json:"bookmark_count"`
	ImpressionCount int64 `json:"impression_count"`
}

type xMeta struct {
	ResultCount int    `json:"result_count"`
	NewestID    string `json:"newest_id,omitempty"`
	OldestID    string `json:"oldest_id,omitempty"`
	NextToken   string `json:"next_token,omitempty"`
}

type xIncludes struct {
	Users []xUser `json:"users,omitempty"`
}

type xUserBody struct {
	Data xUser `json:"data"`
}

type xTweetsBody struct {
	Data     []xTweet   `json:"data,omitempty"`
	Includes *xIncludes `json:"includes,omitempty"`
	Meta     xMeta      `json:"meta"`
}

// usersMe serves GET /2/users/me: the token's user, with the user.fields
// asked for (id, name and username always).
func (x *xSim) usersMe(c *apiCall) (int, any) {
	if !c.grant.hasScope("tweet.read", "users.read") {
		return xForbidden("The token is missing the scopes tweet.read and users.read.")
	}
	return http.StatusOK, xUserBody{Data: x.user(c.acct, c.now, fieldSet(c.r.URL.Query().Get("user.fields")))}
}

func (x *xSim) user(a *account, now time.Time, fields map[string]bool) xUser {
	u := xUser{ID: a.ID, Name: a.Name, Username: a.Handle}
	if fields["created_at"] {
		u.CreatedAt = a.CreatedAt.Format(xTimeFormat)
	}
	if fields["description"] {
		u.Description = "Synthetic account for the Pulse simulator."
	}
	if fields["protected"] {
		u.Protected = new(false)
	}
	if fields["verified"] {
		u.Verified = new(false)
	}
	if fields["public_metrics"] {
		m := a.metrics(now)
		u.PublicMetrics = &xUserMetrics{
			FollowersCount: m.Followers,
			FollowingCount: m.Following,
			TweetCount:     m.Posts,
			ListedCount:    m.Listed,
			LikeCount:      m.Likes,
			MediaCount:     m.Posts / 5,
		}
	}
	return u
}

// userTweets serves GET /2/users/:id/tweets: the user's posts, newest
// first, max_results (5..100, default 10) per page, after since_id, from
// start_time and before until_id, paged by pagination_token. Only the token's own user can
// be read.
func (x *xSim) userTweets(c *apiCall) (int, any) {
	q := c.r.URL.Query()
	id := c.r.PathValue("id")
	if !numeric(id) {
		return xInvalid("id", id, "The `id` query parameter value ["+id+"] does not match ^[0-9]{1,19}$")
	}
	if id != c.acct.ID {
		return xForbidden("You are not permitted to access this user's Tweets.")
	}
	if !c.grant.hasScope("tweet.read", "users.read") {
		return xForbidden("The token is missing the scopes tweet.read and users.read.")
	}
	n := 10
	if v := q.Get("max_results"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 5 || n > 100 {
			return xInvalid("max_results", v, "The `max_results` query parameter value ["+v+"] is not between 5 and 100")
		}
	}
	var since, until uint64
	for _, p := range []struct {
		name string
		dst  *uint64
	}{{"since_id", &since}, {"until_id", &until}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil || !numeric(v) {
			return xInvalid(p.name, v, "The `"+p.name+"` query parameter value ["+v+"] does not match ^[0-9]{1,19}$")
		}
		*p.dst = id
	}

	// start_time (RFC 3339, inclusive, second granularity): posts created
	// at or after it, applied with since_id when both are given.
	if v := q.Get("start_time"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return xInvalid("start_time", v, "Invalid 'start_time':'"+v+"'. 'start_time' must be a valid RFC 3339 timestamp.")
		}
		if ms := t.UnixMilli() - twitterEpoch; ms > 0 {
			since = max(since, uint64(ms)<<22-1)
		}
	}

	a := c.acct
	last, first := a.lastSlot(c.now), a.firstServed(c.now)
	k := last
	if v := q.Get("pagination_token"); v != "" {
		var ok bool
		if k, ok = x.decodePage(a, v, first, last); !ok {
			return xInvalid("pagination_token", v, "The `pagination_token` query parameter value ["+v+"] is not valid")
		}
	}

	fields := fieldSet(q.Get("tweet.fields"))
	var body xTweetsBody
	for ; k >= first && len(body.Data) < n; k-- {
		created := a.postTime(k)
		sf := xSnowflake(a, k, created)
		if until != 0 && sf >= until {
			continue
		}
		if sf <= since {
			k = first - 1
			break
		}
		body.Data = append(body.Data, x.tweet(a, k, created, sf, c.now, fields))
	}
	if k >= first && xSnowflake(a, k, a.postTime(k)) > since {
		body.Meta.NextToken = x.encodePage(a, k)
	}
	if m := len(body.Data); m > 0 {
		body.Meta.ResultCount = m
		body.Meta.NewestID = body.Data[0].ID
		body.Meta.OldestID = body.Data[m-1].ID
	}
	if fieldSet(q.Get("expansions"))["author_id"] && len(body.Data) > 0 {
		body.Includes = &xIncludes{Users: []xUser{x.user(a, c.now, fieldSet(q.Get("user.fields")))}}
	}
	return http.StatusOK, body
}

func (x *xSim) tweet(a *account, k int64, created time.Time, sf uint64, now time.Time, fields map[string]bool) xTweet {
	id := strconv.FormatUint(sf, 10)
	t := xTweet{ID: id, Text: a.text(k), EditHistoryTweetIDs: []string{id}}
	if fields["author_id"] {
		t.AuthorID = a.ID
	}
	if fields["created_at"] {
		t.CreatedAt = created.Format(xTimeFormat)
	}
	if fields["public_metrics"] {
		p := a.post(k, id, now)
		t.PublicMetrics = &xTweetMetrics{
			RetweetCount:    p.Reposts,
			ReplyCount:      p.Replies,
			LikeCount:       p.Likes,
			QuoteCount:      p.Quotes,
			BookmarkCount:   p.Bookmarks,
			ImpressionCount: p.Impressions,
		}
	}
	return t
}

// encodePage makes the opaque pagination token that resumes a's timeline at
// post k; decodePage reverses it, accepting only posts in [first, last].
func (x *xSim) encodePage(a *account, k int64) string {
	return strconv.FormatUint(uint64(k)^hash(a.key, tagPage), 36)
}

func (x *xSim) decodePage(a *account, tok string, first, last int64) (int64, bool) {
	v, err := strconv.ParseUint(tok, 36, 64)
	if err != nil {
		return 0, false
	}
	k := int64(v ^ hash(a.key, tagPage))
	return k, k >= first && k <= last
}

// fieldSet splits a comma-separated fields parameter.
func fieldSet(s string) map[string]bool {
	m := map[string]bool{}
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			m[f] = true
		}
	}
	return m
}

// numeric reports whether s is 1 to 19 decimal digits.
func numeric(s string) bool {
	if len(s) == 0 || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
