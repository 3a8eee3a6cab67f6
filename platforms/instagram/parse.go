package instagram

import (
	"errors"
	"fmt"
	"time"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
	"github.com/pulsehq/pulse/platforms/internal/meta"
)

// userBody is an Instagram account: /{ig-user-id} (fields=UserFields) or,
// with Instagram Login, /me, whose user_id is the account's id (id is then
// app-scoped).
type userBody struct {
	ID             string  `json:"id"`
	UserID         meta.ID `json:"user_id"`
	Username       string  `json:"username"`
	FollowersCount int64   `json:"followers_count"`
	FollowsCount   int64   `json:"follows_count"`
	MediaCount     int64   `json:"media_count"`
}

// id is the account's Instagram id.
func (u *userBody) id() string {
	if u.UserID != "" {
		return string(u.UserID)
	}
	return u.ID
}

// mediaBody is a /{ig-user-id}/media page (fields=MediaFields).
type mediaBody struct {
	Data []struct {
		ID            string             `json:"id"`
		Caption       string             `json:"caption"`
		LikeCount     int64              `json:"like_count"`
		CommentsCount int64              `json:"comments_count"`
		Timestamp     string             `json:"timestamp"`
		Permalink     string             `json:"permalink"`
		MediaType     string             `json:"media_type"`
		Insights      *meta.PostInsights `json:"insights"`
	} `json:"data"`
	Paging meta.Paging `json:"paging"`
}

// ParseAccount decodes an account body (Fetch.AccountBody). ID is user_id
// when present (Instagram Login), else id; Handle is the username;
// Followers is followers_count, Following follows_count and PostsCount
// media_count. It fails when body is not a JSON object or has no id.
func (c *Connector) ParseAccount(body []byte) (platforms.Account, error) {
	var u userBody
	if err := httpx.DecodeObjectByHand(body, &u, decodeUser); err != nil {
		return platforms.Account{}, fmt.Errorf("instagram: parse account: %w", err)
	}
	id := u.id()
	if id == "" {
		return platforms.Account{}, errors.New("instagram: parse account: no id")
	}
	return platforms.Account{
		ID:         id,
		Handle:     u.Username,
		Followers:  u.FollowersCount,
		Following:  u.FollowsCount,
		PostsCount: u.MediaCount,
	}, nil
}

// ParsePosts decodes a media page (one of Fetch.PostBodies), keeping Meta's
// order (newest first). Text is the caption, Likes like_count (0 when the
// owner hid it), Comments comments_count, Permalink permalink; Reach,
// Views, Saves and Shares are the media's insights (PostMetrics), 0 when
// absent. A page
// without data yields an empty slice. It fails when body is not a JSON
// object, or a media has no id or an invalid timestamp.
func (c *Connector) ParsePosts(body []byte) ([]platforms.PostData, error) {
	var b mediaBody
	if err := httpx.DecodeObjectByHand(body, &b, decodeMedia); err != nil {
		return nil, fmt.Errorf("instagram: parse posts: %w", err)
	}
	out := make([]platforms.PostData, 0, len(b.Data))
	for i, m := range b.Data {
		if m.ID == "" {
			return nil, fmt.Errorf("instagram: parse posts: media %d: no id", i)
		}
		var created time.Time
		if m.Timestamp != "" {
			t, err := meta.ParseTime(m.Timestamp)
			if err != nil {
				return nil, fmt.Errorf("instagram: parse posts: media %s: timestamp: %w", m.ID, err)
			}
			created = t
		}
		ins := m.Insights.Values(PostMetrics[meta.Version])
		out = append(out, platforms.PostData{
			ID:        m.ID,
			CreatedAt: created,
			Text:      m.Caption,
			Permalink: m.Permalink,
			Likes:     m.LikeCount,
			Comments:  m.CommentsCount,
			Reach:     ins[meta.RoleReach],
			Views:     ins[meta.RoleViews],
			Saves:     ins[meta.RoleSaves],
			Shares:    ins[meta.RoleShares],
		})
	}
	return out, nil
}

// ParseInsights decodes an account insights body (one of
// Fetch.InsightBodies) into days, oldest first, by the roles of Metrics:
// FollowerGain is follower_count.
func (c *Connector) ParseInsights(body []byte) ([]platforms.DayMetrics, error) {
	days, err := meta.ParseInsights(body, Metrics[meta.Version])
	if err != nil {
		return nil, fmt.Errorf("instagram: parse insights: %w", err)
	}
	return days, nil
}
