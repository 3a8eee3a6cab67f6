package facebook

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
	"github.com/pulsehq/pulse/platforms/internal/meta"
)

// Operation names used in platforms.Error.Op.
const (
	opPages    = "fetch pages"
	opAccount  = "fetch account"
	opPosts    = "fetch posts"
	opInsights = "fetch insights"
)

// accountsBody is a /me/accounts page: the Pages the user granted, with
// their Page access tokens.
type accountsBody struct {
	Data []struct {
		ID          string   `json:"id"`
		Name        string   `json:"name"`
		Username    string   `json:"username"`
		AccessToken string   `json:"access_token"`
		Tasks       []string `json:"tasks"`
	} `json:"data"`
	Paging meta.Paging `json:"paging"`
}

// Fetch reads the Page req.AccountID with the user token:
//
//  1. GET /v24.0/me/accounts (user token): the Page and its Page access
//     token. A Page the login no longer shares is Reauth, naming the Page
//     (the user must relink and tick it); a token that grants no Page is
//     Permission. An empty req.AccountID takes the first Page listed.
//  2. GET /v24.0/{page-id}?fields=PageFields (Page token): the account
//     body; an answer for another Page is Permanent, never a result.
//  3. GET /v24.0/{page-id}/posts?fields=PostFields,insights.metric(PostMetrics)&limit=25
//     (Page token), newest first, following paging.cursors.after up to
//     MaxPostPages pages.
//  4. GET /v24.0/{page-id}/insights?metric=Metrics&period=day (Page
//     token): yesterday and today or, on req.Backfill,
//     platforms.HistoryDays days.
//
// A metric Meta no longer serves (error code 100 naming it) is left out,
// named in Fetch.Skipped, and the call made again without it.
//
// A non-empty cursor is the Unix time of the newest post already read:
// only posts created at or after it are read (since=cursor; the newest
// post is read again, refreshing its counters). Fetch.NextCursor is the
// newest post's created_time as Unix seconds, or cursor when there was
// none; a cursor that is not a Unix time is Permanent.
// With a cursor, req.Since (the decaying refresh) moves since back to it
// when it is earlier: every post created since then is read again.
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
func (c *Connector) Fetch(ctx context.Context, tok *oauth2.Token, req platforms.Request) (*platforms.Fetch, error) {
	g := c.g
	cursor := req.Cursor
	f := &platforms.Fetch{NextCursor: cursor, Limit: platforms.Unknown()}
	if tok == nil || tok.AccessToken == "" {
		return f, g.NewError(opAccount, platforms.Reauth, 0, errors.New("no access token"))
	}
	if _, err := meta.ParseCursor(cursor); err != nil {
		return f, g.NewError(opPosts, platforms.Permanent, 0, err)
	}
	s := g.NewSession(f)

	accts, err := c.pages(ctx, s, tok)
	if err != nil {
		return f, err
	}
	var pageID, pageToken string
	for _, p := range accts.Data {
		if p.ID != "" && p.AccessToken != "" && (req.AccountID == "" || p.ID == req.AccountID) {
			pageID, pageToken = p.ID, p.AccessToken
			break
		}
	}
	switch {
	case pageID == "" && req.AccountID != "" && len(accts.Data) > 0:
		return f, g.NewError(opPages, platforms.Reauth, 0, fmt.Errorf(
			"linked Page %s is no longer shared with Pulse: the user must link again and select it in Facebook Login", req.AccountID))
	case pageID == "":
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
		if p.ID != pageID {
			return g.NewError(opAccount, platforms.Permanent, 0, fmt.Errorf("asked for Page %s, the response is for Page %s", pageID, p.ID))
		}
		return nil
	})
	if err != nil {
		return f, err
	}
	f.AccountBody, f.AccountID = body, pageID

	var newest time.Time
	readPosts := func(fields string) error {
		q := url.Values{"fields": {fields}, "limit": {strconv.Itoa(meta.PageSize)}}
		if since := meta.SinceParam(cursor, req.Since); since != "" {
			q.Set("since", since)
		}
		var err error
		newest, err = s.ReadList(ctx, opPosts, path+"/posts", q, pageToken, decodePage)
		return err
	}
	ok, err := meta.WithMetrics(f, meta.Names(PostMetrics[meta.Version]), func(names []string) error {
		return readPosts(PostFields + "," + meta.InsightsField(names))
	})
	if err == nil && !ok {
		err = readPosts(PostFields)
	}
	if err != nil {
		return f, err
	}
	since, until := meta.InsightRange(g.Now(), req.Backfill)
	if err := s.ReadInsights(ctx, opInsights, path, Metrics[meta.Version], since, until, pageToken); err != nil {
		return f, err
	}
	f.NextCursor = meta.NextCursor(cursor, newest)
	return f, nil
}

// pages reads /me/accounts with the user token.
func (c *Connector) pages(ctx context.Context, s *meta.Session, tok *oauth2.Token) (accountsBody, error) {
	g := c.g
	var accts accountsBody
	q := url.Values{"fields": {"id,name,username,access_token,tasks"}, "limit": {"100"}}
	_, err := s.Get(ctx, opPages, "/me/accounts", q, tok.AccessToken, func(b []byte) *platforms.Error {
		accts = accountsBody{}
		if err := httpx.DecodeObject(b, &accts); err != nil {
			return g.Malformed(opPages, err)
		}
		return nil
	})
	return accts, err
}

// Accounts lists the Pages the login shares (GET /v24.0/me/accounts), in
// Meta's order, for the user to choose which to link: ID, and Handle the
// Page's username (its name when it has none). Errors are as Fetch's.
func (c *Connector) Accounts(ctx context.Context, tok *oauth2.Token) ([]platforms.Account, error) {
	if tok == nil || tok.AccessToken == "" {
		return nil, c.g.NewError(opPages, platforms.Reauth, 0, errors.New("no access token"))
	}
	f := &platforms.Fetch{Limit: platforms.Unknown()}
	accts, err := c.pages(ctx, c.g.NewSession(f), tok)
	if err != nil {
		return nil, err
	}
	var out []platforms.Account
	for _, p := range accts.Data {
		if p.ID == "" {
			continue
		}
		h := p.Username
		if h == "" {
			h = p.Name
		}
		out = append(out, platforms.Account{ID: p.ID, Handle: h})
	}
	return out, nil
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
