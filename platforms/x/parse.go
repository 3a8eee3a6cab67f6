package x

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
)

// permalinkPrefix + a post id is the post's canonical URL; it works without
// knowing the author's handle.
const permalinkPrefix = "https://x.com/i/web/status/"

// accountBody is the users/me response (user.fields=public_metrics).
type accountBody struct {
	Data struct {
		ID            string `json:"id"`
		Name          string `json:"name"`
		Username      string `json:"username"`
		PublicMetrics struct {
			FollowersCount int64 `json:"followers_count"`
			FollowingCount int64 `json:"following_count"`
			TweetCount     int64 `json:"tweet_count"`
			ListedCount    int64 `json:"listed_count"`
			LikeCount      int64 `json:"like_count"`
		} `json:"public_metrics"`
	} `json:"data"`
}

// postsBody is one users/:id/tweets page
// (tweet.fields=public_metrics,created_at).
type postsBody struct {
	Data []struct {
		ID            string `json:"id"`
		Text          string `json:"text"`
		CreatedAt     string `json:"created_at"`
		PublicMetrics struct {
			RetweetCount    int64 `json:"retweet_count"`
			ReplyCount      int64 `json:"reply_count"`
			LikeCount       int64 `json:"like_count"`
			QuoteCount      int64 `json:"quote_count"`
			ImpressionCount int64 `json:"impression_count"`
			BookmarkCount   int64 `json:"bookmark_count"`
		} `json:"public_metrics"`
	} `json:"data"`
	Meta struct {
		ResultCount int    `json:"result_count"`
		NewestID    string `json:"newest_id"`
		OldestID    string `json:"oldest_id"`
		NextToken   string `json:"next_token"`
	} `json:"meta"`
}

// ParseAccount decodes a users/me body (Fetch.AccountBody). Handle is the
// username without "@", PostsCount is tweet_count; metrics X omits are 0. It
// fails when body is not a JSON object or has no data.id.
func (c *Connector) ParseAccount(body []byte) (platforms.Account, error) {
	var b accountBody
	if err := httpx.DecodeObjectByHand(body, &b, decodeAccount); err != nil {
		return platforms.Account{}, fmt.Errorf("x: parse account: %w", err)
	}
	d := b.Data
	if d.ID == "" {
		return platforms.Account{}, errors.New("x: parse account: no data.id")
	}
	m := d.PublicMetrics
	return platforms.Account{
		ID:         d.ID,
		Handle:     d.Username,
		Followers:  m.FollowersCount,
		Following:  m.FollowingCount,
		PostsCount: m.TweetCount,
	}, nil
}

// ParsePosts decodes a users/:id/tweets page (one of Fetch.PostBodies),
// keeping X's order (newest first). Likes is like_count, Comments
// reply_count, Shares retweet_count+quote_count and Views impression_count;
// Permalink is https://x.com/i/web/status/<id>. A page without data (no
// posts in range) yields an empty slice. It fails when body is not a JSON
// object, or a post has no id or an invalid created_at.
func (c *Connector) ParsePosts(body []byte) ([]platforms.PostData, error) {
	var b postsBody
	if err := httpx.DecodeObjectByHand(body, &b, decodePosts); err != nil {
		return nil, fmt.Errorf("x: parse posts: %w", err)
	}
	out := make([]platforms.PostData, 0, len(b.Data))
	for i, p := range b.Data {
		if p.ID == "" {
			return nil, fmt.Errorf("x: parse posts: post %d: no id", i)
		}
		var created time.Time
		if p.CreatedAt != "" {
			t, err := time.Parse(time.RFC3339Nano, p.CreatedAt)
			if err != nil {
				return nil, fmt.Errorf("x: parse posts: post %s: created_at: %w", p.ID, err)
			}
			created = t.UTC()
		}
		m := p.PublicMetrics
		out = append(out, platforms.PostData{
			ID:        p.ID,
			CreatedAt: created,
			Text:      p.Text,
			Permalink: permalinkPrefix + url.PathEscape(p.ID),
			Likes:     m.LikeCount,
			Comments:  m.ReplyCount,
			Shares:    m.RetweetCount + m.QuoteCount,
			Views:     m.ImpressionCount,
		})
	}
	return out, nil
}
