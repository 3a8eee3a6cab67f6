package facebook

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
	"github.com/pulsehq/pulse/platforms/internal/meta"
)

// permalinkPrefix + a post id is a post's URL when the Graph API gives no
// permalink_url.
const permalinkPrefix = "https://www.facebook.com/"

// pageBody is a Page (fields=PageFields).
type pageBody struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Username       string `json:"username"`
	FollowersCount *int64 `json:"followers_count"`
	FanCount       *int64 `json:"fan_count"`
}

// postsBody is a /{page-id}/posts page (fields=PostFields).
type postsBody struct {
	Data []struct {
		ID           string `json:"id"`
		Message      string `json:"message"`
		Story        string `json:"story"`
		CreatedTime  string `json:"created_time"`
		PermalinkURL string `json:"permalink_url"`
		Shares       struct {
			Count int64 `json:"count"`
		} `json:"shares"`
		Reactions edgeSummary        `json:"reactions"`
		Comments  edgeSummary        `json:"comments"`
		Insights  *meta.PostInsights `json:"insights"`
	} `json:"data"`
	Paging meta.Paging `json:"paging"`
}

// edgeSummary is an edge read as a field with .summary(total_count).
type edgeSummary struct {
	Summary struct {
		TotalCount int64 `json:"total_count"`
	} `json:"summary"`
}

// ParseAccount decodes a Page body (Fetch.AccountBody). Handle is the
// Page's username ("" for a Page without one); Followers is
// followers_count, or fan_count (the Page's likes) when Meta omits it.
// Pages report neither a following count nor a post count: Following and
// PostsCount are 0. It fails when body is not a JSON object or has no id.
func (c *Connector) ParseAccount(body []byte) (platforms.Account, error) {
	var p pageBody
	if err := httpx.DecodeObjectByHand(body, &p, decodePageBody); err != nil {
		return platforms.Account{}, fmt.Errorf("facebook: parse account: %w", err)
	}
	if p.ID == "" {
		return platforms.Account{}, errors.New("facebook: parse account: no id")
	}
	a := platforms.Account{ID: p.ID, Handle: p.Username}
	switch {
	case p.FollowersCount != nil:
		a.Followers = *p.FollowersCount
	case p.FanCount != nil:
		a.Followers = *p.FanCount
	}
	return a, nil
}

// ParsePosts decodes a /{page-id}/posts page (one of Fetch.PostBodies),
// keeping Meta's order (newest first). Text is the message (the story, e.g.
// "… updated their cover photo", when there is none); Likes is the
// reactions' total, Comments the comments' total, Shares shares.count;
// Reach and Views are the post's insights (PostMetrics), 0 when absent.
// Permalink is
// permalink_url, or https://www.facebook.com/<post id>. A page without data
// yields an empty slice. It fails when body is not a JSON object, or a post
// has no id or an invalid created_time.
func (c *Connector) ParsePosts(body []byte) ([]platforms.PostData, error) {
	var b postsBody
	if err := httpx.DecodeObjectByHand(body, &b, decodePosts); err != nil {
		return nil, fmt.Errorf("facebook: parse posts: %w", err)
	}
	out := make([]platforms.PostData, 0, len(b.Data))
	for i, p := range b.Data {
		if p.ID == "" {
			return nil, fmt.Errorf("facebook: parse posts: post %d: no id", i)
		}
		var created time.Time
		if p.CreatedTime != "" {
			t, err := meta.ParseTime(p.CreatedTime)
			if err != nil {
				return nil, fmt.Errorf("facebook: parse posts: post %s: created_time: %w", p.ID, err)
			}
			created = t
		}
		text := p.Message
		if text == "" {
			text = p.Story
		}
		link := p.PermalinkURL
		if link == "" {
			link = permalinkPrefix + url.PathEscape(p.ID)
		}
		ins := p.Insights.Values(PostMetrics[meta.Version])
		out = append(out, platforms.PostData{
			ID:        p.ID,
			CreatedAt: created,
			Text:      text,
			Permalink: link,
			Likes:     p.Reactions.Summary.TotalCount,
			Comments:  p.Comments.Summary.TotalCount,
			Shares:    p.Shares.Count,
			Reach:     ins[meta.RoleReach],
			Views:     ins[meta.RoleViews],
		})
	}
	return out, nil
}

// ParseInsights decodes a Page insights body (one of Fetch.InsightBodies)
// into days, oldest first, by the roles of Metrics: Followers is
// page_follows.
func (c *Connector) ParseInsights(body []byte) ([]platforms.DayMetrics, error) {
	days, err := meta.ParseInsights(body, Metrics[meta.Version])
	if err != nil {
		return nil, fmt.Errorf("facebook: parse insights: %w", err)
	}
	return days, nil
}
