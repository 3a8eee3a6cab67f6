package linkedin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
)

// The bodies a fetch returns. LinkedIn spreads what Pulse calls an account
// snapshot and a page of posts over two calls each, so Fetch keeps the raw
// answers side by side in an envelope, a JSON object with one member per
// call:
//
//	AccountBody:    {"organization": <GET /rest/organizations/{id}>,
//	                 "networkSizes": <GET /rest/networkSizes/{urn}>}
//	PostBodies[i]:  {"posts": <GET /rest/posts page>,
//	                 "statistics": <GET /rest/organizationalEntityShareStatistics>,
//	                 "since": <cursor, Unix ms>}
//
// "statistics" is absent when the page had no post to read, "since" when
// the fetch had no cursor.

// permalinkPrefix + a post URN is the post's public URL.
const permalinkPrefix = "https://www.linkedin.com/feed/update/"

// accountEnvelope is Fetch.AccountBody.
type accountEnvelope struct {
	Organization json.RawMessage `json:"organization"`
	NetworkSizes json.RawMessage `json:"networkSizes"`
}

// postsEnvelope is one of Fetch.PostBodies.
type postsEnvelope struct {
	Posts      json.RawMessage `json:"posts,omitempty"`
	Statistics json.RawMessage `json:"statistics,omitempty"`
	Since      int64           `json:"since,omitempty"`
}

// organizationBody is GET /rest/organizations/{id}. id is a number; $URN
// is the organization's URN.
type organizationBody struct {
	ID            json.Number `json:"id"`
	URN           string      `json:"$URN"`
	VanityName    string      `json:"vanityName"`
	LocalizedName string      `json:"localizedName"`
}

// orgID returns the organization's id: id, else the id in $URN.
func (o *organizationBody) orgID() string {
	if id := o.ID.String(); validID(id) {
		return id
	}
	if id, ok := orgIDOf(o.URN); ok {
		return id
	}
	return ""
}

// networkSizeBody is GET /rest/networkSizes/{urn}.
type networkSizeBody struct {
	FirstDegreeSize *int64 `json:"firstDegreeSize"`
}

// validate rejects a negative follower count.
func (ns *networkSizeBody) validate() error {
	if ns.FirstDegreeSize != nil && *ns.FirstDegreeSize < 0 {
		return fmt.Errorf("negative firstDegreeSize %d", *ns.FirstDegreeSize)
	}
	return nil
}

// aclsBody is a page of the organizationAcls roleAssignee finder.
type aclsBody struct {
	Elements []struct {
		Organization string `json:"organization"`
		Role         string `json:"role"`
		State        string `json:"state"`
	} `json:"elements"`
}

// paging is a collection's paging object.
type paging struct {
	Start int    `json:"start"`
	Count int    `json:"count"`
	Links []link `json:"links"`
	Total *int   `json:"total"`
}

// link is a paging link: rel "next" or "prev" and its (relative) href.
type link struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

// postElement is one post of the Posts API.
type postElement struct {
	ID             string `json:"id"`
	Author         string `json:"author"`
	Commentary     string `json:"commentary"`
	LifecycleState string `json:"lifecycleState"`
	CreatedAt      int64  `json:"createdAt"`
	PublishedAt    int64  `json:"publishedAt"`
}

// postsBody is a page of the Posts API's author finder.
type postsBody struct {
	Paging   paging        `json:"paging"`
	Elements []postElement `json:"elements"`
}

// validate rejects a post without an id.
func (p *postsBody) validate() error {
	for i, e := range p.Elements {
		if e.ID == "" {
			return fmt.Errorf("post %d: no id", i)
		}
	}
	return nil
}

// statisticsBody is an organizationalEntityShareStatistics answer.
type statisticsBody struct {
	Elements []struct {
		Share                string `json:"share"`
		UGCPost              string `json:"ugcPost"`
		TotalShareStatistics struct {
			LikeCount       int64 `json:"likeCount"`
			CommentCount    int64 `json:"commentCount"`
			ShareCount      int64 `json:"shareCount"`
			ImpressionCount int64 `json:"impressionCount"`
		} `json:"totalShareStatistics"`
	} `json:"elements"`
}

// validate rejects negative counters.
func (sb *statisticsBody) validate() error {
	for _, e := range sb.Elements {
		t := e.TotalShareStatistics
		if t.LikeCount < 0 || t.CommentCount < 0 || t.ShareCount < 0 || t.ImpressionCount < 0 {
			return fmt.Errorf("statistics of %q: negative count", e.Share+e.UGCPost)
		}
	}
	return nil
}

// ParseAccount decodes an account envelope (Fetch.AccountBody). ID is the
// organization's id ("2414183"), Handle its vanity name (its localized
// name when it has none), Followers the networkSizes firstDegreeSize (0
// when absent). LinkedIn reports neither a following count nor a post
// count: Following and PostsCount are 0. It fails when body is not a JSON
// object, the organization has no valid id or the follower count is
// negative.
func (c *Connector) ParseAccount(body []byte) (platforms.Account, error) {
	var env accountEnvelope
	if err := httpx.DecodeObject(body, &env); err != nil {
		return platforms.Account{}, fmt.Errorf("linkedin: parse account: %w", err)
	}
	var org organizationBody
	if err := httpx.DecodeObject(env.Organization, &org); err != nil {
		return platforms.Account{}, fmt.Errorf("linkedin: parse account: organization: %w", err)
	}
	id := org.orgID()
	if id == "" {
		return platforms.Account{}, errors.New("linkedin: parse account: no organization id")
	}
	a := platforms.Account{ID: id, Handle: org.VanityName}
	if a.Handle == "" {
		a.Handle = org.LocalizedName
	}
	if len(env.NetworkSizes) > 0 && !bytes.Equal(env.NetworkSizes, []byte("null")) {
		var ns networkSizeBody
		if err := httpx.DecodeObject(env.NetworkSizes, &ns); err != nil {
			return platforms.Account{}, fmt.Errorf("linkedin: parse account: networkSizes: %w", err)
		}
		if err := ns.validate(); err != nil {
			return platforms.Account{}, fmt.Errorf("linkedin: parse account: networkSizes: %w", err)
		}
		if ns.FirstDegreeSize != nil {
			a.Followers = *ns.FirstDegreeSize
		}
	}
	return a, nil
}

// ParsePosts decodes a posts envelope (one of Fetch.PostBodies), keeping
// LinkedIn's order (newest first) and leaving out the posts created before
// the envelope's "since". ID is the post's URN (urn:li:share:… or
// urn:li:ugcPost:…), CreatedAt its publishedAt (createdAt when it has
// none), Text its commentary as a reader sees it (LinkedIn's "little text"
// escapes and hashtag and mention templates decoded), Permalink
// https://www.linkedin.com/feed/update/<URN>. Likes, Comments, Shares and
// Views are the post's likeCount, commentCount, shareCount and
// impressionCount from the envelope's statistics; 0 when LinkedIn reported
// none. An envelope without posts yields an empty slice. It fails when
// body is not a JSON object, a post has no id or a counter is negative.
func (c *Connector) ParsePosts(body []byte) ([]platforms.PostData, error) {
	var env postsEnvelope
	if err := httpx.DecodeObject(body, &env); err != nil {
		return nil, fmt.Errorf("linkedin: parse posts: %w", err)
	}
	var page postsBody
	if len(env.Posts) > 0 && !bytes.Equal(env.Posts, []byte("null")) {
		if err := httpx.DecodeObject(env.Posts, &page); err != nil {
			return nil, fmt.Errorf("linkedin: parse posts: posts: %w", err)
		}
		if err := page.validate(); err != nil {
			return nil, fmt.Errorf("linkedin: parse posts: %w", err)
		}
	}
	type counts struct{ likes, comments, shares, views int64 }
	stats := map[string]counts{}
	if len(env.Statistics) > 0 && !bytes.Equal(env.Statistics, []byte("null")) {
		var sb statisticsBody
		if err := httpx.DecodeObject(env.Statistics, &sb); err != nil {
			return nil, fmt.Errorf("linkedin: parse posts: statistics: %w", err)
		}
		if err := sb.validate(); err != nil {
			return nil, fmt.Errorf("linkedin: parse posts: %w", err)
		}
		for _, e := range sb.Elements {
			urn := e.Share
			if urn == "" {
				urn = e.UGCPost
			}
			t := e.TotalShareStatistics
			stats[urn] = counts{t.LikeCount, t.CommentCount, t.ShareCount, t.ImpressionCount}
		}
	}
	out := make([]platforms.PostData, 0, len(page.Elements))
	for _, p := range page.Elements {
		if p.CreatedAt < env.Since {
			continue
		}
		published := p.PublishedAt
		if published == 0 {
			published = p.CreatedAt
		}
		var created time.Time
		if published > 0 {
			created = time.UnixMilli(published).UTC()
		}
		s := stats[p.ID]
		out = append(out, platforms.PostData{
			ID:        p.ID,
			CreatedAt: created,
			Text:      PlainText(p.Commentary),
			Permalink: permalinkPrefix + url.PathEscape(p.ID),
			Likes:     s.likes,
			Comments:  s.comments,
			Shares:    s.shares,
			Views:     s.views,
		})
	}
	return out, nil
}

// PlainText decodes LinkedIn's "little text" format, in which the Posts
// API returns commentary, into the text a reader sees: a backslash escapes
// the next character; {hashtag|\#|tag} is "#tag"; @[Name](urn:li:…) is
// "Name". Other braces and brackets are kept as they are, and a trailing
// lone backslash is dropped. The result is valid UTF-8 when s is.
func PlainText(s string) string {
	if !strings.ContainsAny(s, `\{@`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				_, n := utf8.DecodeRuneInString(s[i+1:])
				b.WriteString(s[i+1 : i+1+n])
				i += 1 + n
			} else {
				i++
			}
			continue
		case '{':
			if text, n, ok := hashtag(s[i:]); ok {
				b.WriteString(text)
				i += n
				continue
			}
		case '@':
			if text, n, ok := mention(s[i:]); ok {
				b.WriteString(text)
				i += n
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// scanUntil returns the unescaped text of s up to the first unescaped
// byte stop, and the bytes consumed including stop; ok is false when there
// is no such stop.
func scanUntil(s string, stop byte) (text string, n int, ok bool) {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch s[i] {
		case stop:
			return b.String(), i + 1, true
		case '\\':
			if i+1 >= len(s) {
				return "", 0, false
			}
			_, m := utf8.DecodeRuneInString(s[i+1:])
			b.WriteString(s[i+1 : i+1+m])
			i += 1 + m
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return "", 0, false
}

// hashtag decodes a hashtag template, {hashtag|<symbol>|<tag>}, at the
// start of s into symbol+tag.
func hashtag(s string) (string, int, bool) {
	const prefix = "{hashtag|"
	if !strings.HasPrefix(s, prefix) {
		return "", 0, false
	}
	symbol, n1, ok := scanUntil(s[len(prefix):], '|')
	if !ok {
		return "", 0, false
	}
	tag, n2, ok := scanUntil(s[len(prefix)+n1:], '}')
	if !ok {
		return "", 0, false
	}
	return symbol + tag, len(prefix) + n1 + n2, true
}

// mention decodes a mention, @[<name>](<urn>), at the start of s into the
// name.
func mention(s string) (string, int, bool) {
	if !strings.HasPrefix(s, "@[") {
		return "", 0, false
	}
	name, n1, ok := scanUntil(s[2:], ']')
	if !ok || !strings.HasPrefix(s[2+n1:], "(") {
		return "", 0, false
	}
	_, n2, ok := scanUntil(s[3+n1:], ')')
	if !ok {
		return "", 0, false
	}
	return name, 3 + n1 + n2, true
}

// orgURNPrefix is the prefix of an organization URN.
const orgURNPrefix = "urn:li:organization:"

// orgIDOf returns the id of organization URN urn.
func orgIDOf(urn string) (string, bool) {
	id, ok := strings.CutPrefix(urn, orgURNPrefix)
	return id, ok && validID(id)
}

// validID reports whether s is a LinkedIn numeric id: 1 to 19 decimal
// digits without a leading zero.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 19 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// postKind returns "share" or "ugcPost" for a post URN of those kinds,
// whose statistics LinkedIn serves; "" for any other.
func postKind(urn string) string {
	rest, ok := strings.CutPrefix(urn, "urn:li:")
	if !ok {
		return ""
	}
	kind, id, ok := strings.Cut(rest, ":")
	if !ok || !validID(id) || kind != "share" && kind != "ugcPost" {
		return ""
	}
	return kind
}

// ParseCursor validates an incremental cursor: the creation time, in Unix
// milliseconds, of the newest post already read, as made by Fetch. "" is
// the zero time (no cursor).
func ParseCursor(cursor string) (int64, error) {
	if cursor == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(cursor, 10, 64)
	// 1e14 ms is year 5138: anything larger is not a LinkedIn time.
	if err != nil || n <= 0 || n >= 1e14 || strconv.FormatInt(n, 10) != cursor {
		return 0, fmt.Errorf("cursor %q is not a Unix time in milliseconds", cursor)
	}
	return n, nil
}

// followerStatsBody is a time-bound organizationalEntityFollowerStatistics
// answer: one element per day.
type followerStatsBody struct {
	Elements []struct {
		TimeRange struct {
			Start int64 `json:"start"`
			End   int64 `json:"end"`
		} `json:"timeRange"`
		FollowerGains struct {
			OrganicFollowerGain int64 `json:"organicFollowerGain"`
			PaidFollowerGain    int64 `json:"paidFollowerGain"`
		} `json:"followerGains"`
	} `json:"elements"`
}

func parseFollowerStats(b []byte) ([]platforms.DayMetrics, error) {
	var body followerStatsBody
	if err := httpx.DecodeObject(b, &body); err != nil {
		return nil, err
	}
	out := make([]platforms.DayMetrics, 0, len(body.Elements))
	for i, e := range body.Elements {
		if e.TimeRange.Start <= 0 || e.TimeRange.End <= e.TimeRange.Start {
			return nil, fmt.Errorf("element %d: bad time range %d..%d", i, e.TimeRange.Start, e.TimeRange.End)
		}
		gain := e.FollowerGains.OrganicFollowerGain + e.FollowerGains.PaidFollowerGain
		out = append(out, platforms.DayMetrics{Day: time.UnixMilli(e.TimeRange.Start).UTC().Truncate(24 * time.Hour), FollowerGain: &gain})
	}
	slices.SortFunc(out, func(a, b platforms.DayMetrics) int { return a.Day.Compare(b.Day) })
	return out, nil
}

// ParseInsights decodes a follower statistics body (Fetch.InsightBodies,
// read on a backfill) into days, oldest first: FollowerGain is the day's
// organic plus paid follower gain. LinkedIn reports no reach, views or
// profile views here.
func (c *Connector) ParseInsights(body []byte) ([]platforms.DayMetrics, error) {
	days, err := parseFollowerStats(body)
	if err != nil {
		return nil, fmt.Errorf("linkedin: parse insights: %w", err)
	}
	return days, nil
}
