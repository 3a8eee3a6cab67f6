package facebook

import (
	"context"
	"errors"
	"net/url"
	"strconv"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
	"github.com/pulsehq/pulse/platforms/internal/meta"
)

// Operation names used in platforms.Error.Op.
const (
	opPages   = "fetch pages"
	opAccount = "fetch account"
	opPosts   = "fetch posts"
)

// accountsBody is a /me/accounts page: the Pages the user granted, with
// their Page access tokens.
type accountsBody struct {
	Data []struct {
		ID          string   `json:"id"`
		Name        string   `json:"name"`
		AccessToken string   `json:"access_token"`
		Tasks       []string `json:"tasks"`
	} `json:"data"`
	Paging meta.Paging `json:"paging"`
}

// Fetch reads the user token's Page and its posts:
//
//  1. GET /v24.0/me/accounts (user token): the first Page listed, and its
//     Page access token; a token that grants no Page is Permission.
//  2. GET /v24.0/{page-id}?fields=PageFields (Page token): the account
//     body.
//  3. GET /v24.0/{page-id}/posts?fields=PostFields&limit=25 (Page token),
//     newest first, following paging.cursors.after up to MaxPostPages
//     pages.
//
// A non-empty cursor is the Unix time of the newest post already read:
// only posts created at or after it are read (since=cursor; the newest
// post is read again, refreshing its counters). Fetch.NextCursor is the
// newest post's created_time as Unix seconds, or cursor when there was
// none; a cursor that is not a Unix time is Permanent.
//
// Each request that fails with a Transient error (5xx, Meta error codes 1
// and 2, network failure, timeout, malformed body) is retried up to 3
// attempts in all, with exponential backoff and jitter; waiting stops when
// ctx is done. Other classes are returned at once: error code 190
// Reauth, 10 and 200-299 Permission, 4, 17, 32, 613 and 80001
// Throttled with RetryAfter from X-Business-Use-Case-Usage's
// estimated_time_to_regain_access (else an hour). Errors are
// *platforms.Error and contain neither token.
//
// Fetch.Limit is the usage Meta last reported: UsagePct is the highest
// percentage of X-App-Usage and X-Business-Use-Case-Usage. The returned
// *Fetch is never nil: on error it holds what was read before the failure,
// with Calls and Limit for quota accounting and NextCursor still cursor.
func (c *Connector) Fetch(ctx context.Context, tok *oauth2.Token, cursor string) (*platforms.Fetch, error) {
	g := c.g
	f := &platforms.Fetch{NextCursor: cursor, Limit: platforms.Unknown()}
	if tok == nil || tok.AccessToken == "" {
		return f, g.NewError(opAccount, platforms.Reauth, 0, errors.New("no access token"))
	}
	if _, err := meta.ParseCursor(cursor); err != nil {
		return f, g.NewError(opPosts, platforms.Permanent, 0, err)
	}
	s := g.NewSession(f)

	var accts accountsBody
	q := url.Values{"fields": {"id,name,access_token,tasks"}, "limit": {"100"}}
	if _, err := s.Get(ctx, opPages, "/me/accounts", q, tok.AccessToken, func(b []byte) *platforms.Error {
		accts = accountsBody{}
		if err := httpx.DecodeObject(b, &accts); err != nil {
			return g.Malformed(opPages, err)
		}
		return nil
	}); err != nil {
		return f, err
	}
	var pageID, pageToken string
	for _, p := range accts.Data {
		if p.ID != "" && p.AccessToken != "" {
			pageID, pageToken = p.ID, p.AccessToken
			break
		}
	}
	if pageID == "" {
		return f, g.NewError(opPages, platforms.Permission, 0,
			errors.New("the token grants no Page: the user must select a Page in Facebook Login, with pages_show_list"))
	}

	path := "/" + url.PathEscape(pageID)
	body, err := s.Get(ctx, opAccount, path, url.Values{"fields": {PageFields}}, pageToken, func(b []byte) *platforms.Error {
		var p pageBody
		if err := httpx.DecodeObject(b, &p); err != nil {
			return g.Malformed(opAccount, err)
		}
		if p.ID == "" {
			return g.NewError(opAccount, platforms.Permanent, 0, errors.New("no Page id in response"))
		}
		return nil
	})
	if err != nil {
		return f, err
	}
	f.AccountBody, f.AccountID = body, pageID

	q = url.Values{"fields": {PostFields}, "limit": {strconv.Itoa(meta.PageSize)}}
	if cursor != "" {
		q.Set("since", cursor)
	}
	newest, err := s.ReadList(ctx, opPosts, path+"/posts", q, pageToken, decodePage)
	if err != nil {
		return f, err
	}
	f.NextCursor = meta.NextCursor(cursor, newest)
	return f, nil
}

// decodePage reads what Fetch needs from a posts page: the posts'
// creation times and the paging.
func decodePage(b []byte) (meta.ListPage, error) {
	var p postsBody
	if err := httpx.DecodeObject(b, &p); err != nil {
		return meta.ListPage{}, err
	}
	lp := meta.ListPage{Paging: p.Paging}
	for _, post := range p.Data {
		if t, err := meta.ParseTime(post.CreatedTime); err == nil {
			lp.Times = append(lp.Times, t)
		}
	}
	return lp, nil
}
