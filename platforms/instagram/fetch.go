package instagram

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

// accountsBody is a /me/accounts page with the Pages' Instagram accounts.
type accountsBody struct {
	Data []struct {
		ID                       string `json:"id"`
		InstagramBusinessAccount *struct {
			ID string `json:"id"`
		} `json:"instagram_business_account"`
	} `json:"data"`
}

// Fetch reads the Instagram account req.AccountID and its media:
//
//  1. GET /v24.0/me/accounts?fields=instagram_business_account: the Page
//     connected to the account. An account the login no longer shares is
//     Reauth, naming it (the user must relink and tick its Page); a token
//     that reaches none is Permission. An empty req.AccountID takes the
//     first listed. (Instagram Login: skipped.)
//  2. GET /v24.0/{ig-user-id}?fields=UserFields (Instagram Login:
//     /v24.0/me with user_id): the account body; an answer for another
//     account is Permanent, never a result.
//  3. GET /v24.0/{ig-user-id}/media?fields=MediaFields,insights.metric(PostMetrics)&limit=25
//     (Instagram Login: /v24.0/me/media), newest first, following
//     paging.cursors.after up to MaxPostPages pages.
//  4. GET /v24.0/{ig-user-id}/insights?metric=Metrics&period=day:
//     yesterday and today or, on req.Backfill, platforms.HistoryDays days.
//
// A metric Meta no longer serves (error code 100 naming it) is left out,
// named in Fetch.Skipped, and the call made again without it.
//
// A non-empty cursor is the Unix time of the newest media already read:
// only media created at or after it are read (since=cursor; the newest is
// read again, refreshing its counters). Fetch.NextCursor is the newest
// media's timestamp as Unix seconds, or cursor when there was none; a
// cursor that is not a Unix time is Permanent.
// With a cursor, req.Since (the decaying refresh) moves since back to it
// when it is earlier: every post created since then is read again.
//
// Each request that fails with a Transient error (5xx, Meta error codes 1
// and 2, network failure, timeout, malformed body) is retried up to 3
// attempts in all, with exponential backoff and jitter; waiting stops when
// ctx is done. Other classes are returned at once: error code 190 Reauth,
// 10 and 200-299 Permission, 4, 17, 32, 613, 80001 and 80002 Throttled
// with RetryAfter from X-Business-Use-Case-Usage's
// estimated_time_to_regain_access (else an hour). Errors are
// *platforms.Error and never contain the token.
//
// Fetch.Limit is the usage Meta last reported (UsagePct: the highest
// percentage of X-App-Usage and X-Business-Use-Case-Usage). The returned
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
	s.TokenInQuery = c.igLogin

	node, fields := "/me", "user_id,username,followers_count,follows_count,media_count"
	if !c.igLogin {
		ids, err := c.accountIDs(ctx, s, tok)
		if err != nil {
			return f, err
		}
		var id string
		for _, i := range ids {
			if req.AccountID == "" || i == req.AccountID {
				id = i
				break
			}
		}
		switch {
		case id == "" && req.AccountID != "" && len(ids) > 0:
			return f, g.NewError(opPages, platforms.Reauth, 0, fmt.Errorf(
				"linked Instagram account %s is no longer shared with Pulse: the user must link again and select its Page in Facebook Login", req.AccountID))
		case id == "":
			return f, g.NewError(opPages, platforms.Permission, 0, errors.New(
				"the token reaches no Instagram professional account: the user must grant a Page connected to one, with pages_show_list"))
		}
		node, fields = "/"+url.PathEscape(id), UserFields
	}

	var user userBody
	body, err := s.Get(ctx, opAccount, node, url.Values{"fields": {fields}}, tok.AccessToken, func(b []byte) *platforms.Error {
		user = userBody{}
		if err := httpx.DecodeObject(b, &user); err != nil {
			return g.Malformed(opAccount, err)
		}
		if user.id() == "" {
			return g.NewError(opAccount, platforms.Permanent, 0, errors.New("no account id in response"))
		}
		if req.AccountID != "" && user.id() != req.AccountID {
			return g.NewError(opAccount, platforms.Permanent, 0, fmt.Errorf("asked for account %s, the response is for account %s", req.AccountID, user.id()))
		}
		return nil
	})
	if err != nil {
		return f, err
	}
	f.AccountBody, f.AccountID = body, user.id()

	var newest time.Time
	readMedia := func(fields string) error {
		q := url.Values{"fields": {fields}, "limit": {strconv.Itoa(meta.PageSize)}}
		if since := meta.SinceParam(cursor, req.Since); since != "" {
			q.Set("since", since)
		}
		var err error
		newest, err = s.ReadList(ctx, opPosts, node+"/media", q, tok.AccessToken, decodePage)
		return err
	}
	ok, err := meta.WithMetrics(f, meta.Names(PostMetrics[meta.Version]), func(names []string) error {
		return readMedia(MediaFields + "," + meta.InsightsField(names))
	})
	if err == nil && !ok {
		err = readMedia(MediaFields)
	}
	if err != nil {
		return f, err
	}
	since, until := meta.InsightRange(g.Now(), req.Backfill)
	if err := s.ReadInsights(ctx, opInsights, node, Metrics[meta.Version], since, until, tok.AccessToken); err != nil {
		return f, err
	}
	f.NextCursor = meta.NextCursor(cursor, newest)
	return f, nil
}

// accountIDs reads the Instagram accounts of the login's Pages
// (GET /me/accounts), in Meta's order.
func (c *Connector) accountIDs(ctx context.Context, s *meta.Session, tok *oauth2.Token) ([]string, error) {
	g := c.g
	var accts accountsBody
	q := url.Values{"fields": {"instagram_business_account"}, "limit": {"100"}}
	if _, err := s.Get(ctx, opPages, "/me/accounts", q, tok.AccessToken, func(b []byte) *platforms.Error {
		accts = accountsBody{}
		if err := httpx.DecodeObject(b, &accts); err != nil {
			return g.Malformed(opPages, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range accts.Data {
		if p.InstagramBusinessAccount != nil && p.InstagramBusinessAccount.ID != "" {
			ids = append(ids, p.InstagramBusinessAccount.ID)
		}
	}
	return ids, nil
}

// Accounts lists the Instagram professional accounts the login reaches
// (through /me/accounts, then each account's username), in Meta's order,
// for the user to choose which to link. With Instagram Login, the one
// account. Errors are as Fetch's.
func (c *Connector) Accounts(ctx context.Context, tok *oauth2.Token) ([]platforms.Account, error) {
	if tok == nil || tok.AccessToken == "" {
		return nil, c.g.NewError(opPages, platforms.Reauth, 0, errors.New("no access token"))
	}
	f := &platforms.Fetch{Limit: platforms.Unknown()}
	s := c.g.NewSession(f)
	s.TokenInQuery = c.igLogin
	nodes := []string{"/me"}
	fields := "user_id,username"
	if !c.igLogin {
		ids, err := c.accountIDs(ctx, s, tok)
		if err != nil {
			return nil, err
		}
		nodes, fields = nodes[:0], "id,username"
		for _, id := range ids {
			nodes = append(nodes, "/"+url.PathEscape(id))
		}
	}
	var out []platforms.Account
	for _, n := range nodes {
		var u userBody
		if _, err := s.Get(ctx, opAccount, n, url.Values{"fields": {fields}}, tok.AccessToken, func(b []byte) *platforms.Error {
			u = userBody{}
			if err := httpx.DecodeObject(b, &u); err != nil || u.id() == "" {
				return c.g.Malformed(opAccount, fmt.Errorf("no account id: %v", err))
			}
			return nil
		}); err != nil {
			return nil, err
		}
		out = append(out, platforms.Account{ID: u.id(), Handle: u.Username})
	}
	return out, nil
}

// decodePage reads what Fetch needs from a media page: the media's
// timestamps and the paging.
func decodePage(b []byte) (meta.ListPage, error) {
	var p mediaBody
	if err := httpx.DecodeObject(b, &p); err != nil {
		return meta.ListPage{}, err
	}
	lp := meta.ListPage{Paging: p.Paging}
	for _, m := range p.Data {
		if t, err := meta.ParseTime(m.Timestamp); err == nil {
			lp.Times = append(lp.Times, t)
		}
	}
	return lp, nil
}
