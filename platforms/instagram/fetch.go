package instagram

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

// accountsBody is a /me/accounts page with the Pages' Instagram accounts.
type accountsBody struct {
	Data []struct {
		ID                       string `json:"id"`
		InstagramBusinessAccount *struct {
			ID string `json:"id"`
		} `json:"instagram_business_account"`
	} `json:"data"`
}

// Fetch reads the token's Instagram account and its media:
//
//  1. GET /v24.0/me/accounts?fields=instagram_business_account: the
//     Instagram account of the first Page that has one; a token that
//     reaches none is Permission. (Instagram Login: skipped.)
//  2. GET /v24.0/{ig-user-id}?fields=UserFields (Instagram Login:
//     /v24.0/me with user_id): the account body.
//  3. GET /v24.0/{ig-user-id}/media?fields=MediaFields&limit=25
//     (Instagram Login: /v24.0/me/media), newest first, following
//     paging.cursors.after up to MaxPostPages pages.
//
// A non-empty cursor is the Unix time of the newest media already read:
// only media created at or after it are read (since=cursor; the newest is
// read again, refreshing its counters). Fetch.NextCursor is the newest
// media's timestamp as Unix seconds, or cursor when there was none; a
// cursor that is not a Unix time is Permanent.
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
	s.TokenInQuery = c.igLogin

	node, fields := "/me", "user_id,username,followers_count,follows_count,media_count"
	if !c.igLogin {
		var accts accountsBody
		q := url.Values{"fields": {"instagram_business_account"}, "limit": {"100"}}
		if _, err := s.Get(ctx, opPages, "/me/accounts", q, tok.AccessToken, func(b []byte) *platforms.Error {
			accts = accountsBody{}
			if err := httpx.DecodeObject(b, &accts); err != nil {
				return g.Malformed(opPages, err)
			}
			return nil
		}); err != nil {
			return f, err
		}
		var id string
		for _, p := range accts.Data {
			if p.InstagramBusinessAccount != nil && p.InstagramBusinessAccount.ID != "" {
				id = p.InstagramBusinessAccount.ID
				break
			}
		}
		if id == "" {
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
		return nil
	})
	if err != nil {
		return f, err
	}
	f.AccountBody, f.AccountID = body, user.id()

	q := url.Values{"fields": {MediaFields}, "limit": {strconv.Itoa(meta.PageSize)}}
	if cursor != "" {
		q.Set("since", cursor)
	}
	newest, err := s.ReadList(ctx, opPosts, node+"/media", q, tok.AccessToken, decodePage)
	if err != nil {
		return f, err
	}
	f.NextCursor = meta.NextCursor(cursor, newest)
	return f, nil
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
