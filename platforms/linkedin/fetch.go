package linkedin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
)

// Operation names used in platforms.Error.Op.
const (
	opPage       = "fetch page"
	opAccount    = "fetch account"
	opFollowers  = "fetch followers"
	opPosts      = "fetch posts"
	opStatistics = "fetch statistics"
	opHistory    = "fetch follower history"
)

// Fetch reads the page the token's member administers and its posts:
//
//  1. GET /rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED:
//     the first organization listed (Pulse links one page per
//     authorization); a member who administers none is Permission.
//  2. GET /rest/organizations/{id} and
//     GET /rest/networkSizes/{urn}?edgeType=COMPANY_FOLLOWED_BY_MEMBER: the
//     account envelope (see ParseAccount).
//  3. GET /rest/posts?q=author&author={urn}&sortBy=CREATED&count=PageSize&start=…,
//     newest first, up to MaxPostPages pages, each followed by
//     GET /rest/organizationalEntityShareStatistics for the page's posts
//     (shares=List(…)&ugcPosts=List(…)): one posts envelope per page (see
//     ParsePosts).
//
// A non-empty cursor is the creation time, in Unix milliseconds, of the
// newest post already read. The Posts API cannot filter by time, so Fetch
// pages from the newest post and stops at the first page that reaches the
// cursor; posts created before it are left out of the statistics call and
// of ParsePosts' result, and the newest post is read again (its counters
// refreshed). Fetch.NextCursor is the newest creation time read, or cursor
// when there was none newer; a cursor that is not such a time is Permanent,
// without a call. With a cursor, req.Since (the decaying refresh) moves
// the stop back to it when it is earlier: every post created since then is
// read again. When MaxPostPages ends a fetch before it reaches the
// cursor, the posts between are not read: size MaxPostPages × PageSize
// above what a page publishes between two fetches.
//
// Each request that fails with a Transient error (5xx, network failure,
// timeout, malformed body) is retried up to 3 attempts in all, with
// exponential backoff and jitter; waiting stops when ctx is done. Other
// classes are returned at once (see Classify): 401 Reauth, 403 Permission,
// 429 Throttled with RetryAfter at the next midnight UTC, 426 (the pinned
// APIVersion is sunset) and other 4xx Permanent. Errors are
// *platforms.Error and never contain the token.
//
// LinkedIn reports no usage: Fetch.Limit's Reset is the next midnight UTC,
// when its daily windows reset, with Remaining 0 after a 429 and unknown
// (-1) otherwise. The returned *Fetch is never nil: on error it holds what
// was read before the failure (whole pages only), with Calls and Limit for
// quota accounting and NextCursor still cursor.
func (c *Connector) Fetch(ctx context.Context, tok *oauth2.Token, req platforms.Request) (*platforms.Fetch, error) {
	cursor := req.Cursor
	f := &platforms.Fetch{NextCursor: cursor, Limit: platforms.Unknown()}
	if tok == nil || tok.AccessToken == "" {
		return f, c.newError(opPage, platforms.Reauth, 0, errors.New("no access token"))
	}
	since, err := ParseCursor(cursor)
	if err != nil {
		return f, c.newError(opPosts, platforms.Permanent, 0, err)
	}
	from := since // the cursor's time: NextCursor never moves back past it
	if cursor != "" && !req.Since.IsZero() {
		since = min(since, max(req.Since.UnixMilli(), 1))
	}
	s := &session{c: c, token: tok.AccessToken, f: f}

	orgID, err := s.findPage(ctx, req.AccountID)
	if err != nil {
		return f, err
	}
	f.AccountID = orgID
	if f.AccountBody, err = s.account(ctx, orgID); err != nil {
		return f, err
	}

	newest := from
	author := url.QueryEscape(orgURNPrefix + orgID)
	for start := 0; len(f.PostBodies) < c.maxPages; start += PageSize {
		env, page, err := s.postsPage(ctx, orgID, author, start, since)
		if err != nil {
			return f, err
		}
		f.PostBodies = append(f.PostBodies, env)
		reached := false
		for _, p := range page.Elements {
			if p.CreatedAt >= since {
				newest = max(newest, p.CreatedAt)
			} else {
				reached = true
			}
		}
		if reached || !page.more() {
			break
		}
	}
	if req.Backfill {
		if err := s.followerHistory(ctx, orgID); err != nil {
			return f, err
		}
	}
	if newest > from {
		f.NextCursor = strconv.FormatInt(newest, 10)
	}
	return f, nil
}

// followerHistory reads the organization's daily follower gains over the
// last platforms.HistoryDays days (time-bound follower statistics, one
// call) into Fetch.InsightBodies.
func (s *session) followerHistory(ctx context.Context, orgID string) error {
	c := s.c
	now := c.now().UTC()
	start := now.Add(-platforms.HistoryDays * 24 * time.Hour)
	q := "q=organizationalEntity&organizationalEntity=" + url.QueryEscape(orgURNPrefix+orgID) +
		fmt.Sprintf("&timeIntervals=(timeRange:(start:%d,end:%d),timeGranularityType:DAY)", start.UnixMilli(), now.UnixMilli())
	body, err := s.get(ctx, opHistory, "/rest/organizationalEntityFollowerStatistics", q, func(b []byte) *platforms.Error {
		if _, err := parseFollowerStats(b); err != nil {
			return c.malformed(opHistory, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.f.InsightBodies = append(s.f.InsightBodies, body)
	return nil
}

// Accounts lists the organizations the member administers
// (organizationAcls, then each organization for its vanity name), in
// LinkedIn's order, for the user to choose which to link. Errors are as
// Fetch's.
func (c *Connector) Accounts(ctx context.Context, tok *oauth2.Token) ([]platforms.Account, error) {
	if tok == nil || tok.AccessToken == "" {
		return nil, c.newError(opPage, platforms.Reauth, 0, errors.New("no access token"))
	}
	s := &session{c: c, token: tok.AccessToken, f: &platforms.Fetch{Limit: platforms.Unknown()}}
	var ids []string
	_, err := s.get(ctx, opPage, "/rest/organizationAcls", "q=roleAssignee&role=ADMINISTRATOR&state=APPROVED", func(b []byte) *platforms.Error {
		var acls aclsBody
		if err := httpx.DecodeObject(b, &acls); err != nil {
			return c.malformed(opPage, err)
		}
		ids = ids[:0]
		for _, e := range acls.Elements {
			if id, ok := orgIDOf(e.Organization); ok && (e.Role == "" || e.Role == "ADMINISTRATOR") && (e.State == "" || e.State == "APPROVED") {
				ids = append(ids, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []platforms.Account
	for _, id := range ids {
		var o organizationBody
		if _, err := s.get(ctx, opAccount, "/rest/organizations/"+id, "", func(b []byte) *platforms.Error {
			if err := httpx.DecodeObject(b, &o); err != nil {
				return c.malformed(opAccount, err)
			}
			return nil
		}); err != nil {
			return nil, err
		}
		out = append(out, platforms.Account{ID: id, Handle: o.VanityName})
	}
	return out, nil
}

// findPage returns the id of organization want ("": the first one) if the
// member is its approved ADMINISTRATOR. An organization the member no
// longer administers is Reauth, naming it.
func (s *session) findPage(ctx context.Context, want string) (string, error) {
	c := s.c
	var orgID string
	q := "q=roleAssignee&role=ADMINISTRATOR&state=APPROVED"
	_, err := s.get(ctx, opPage, "/rest/organizationAcls", q, func(b []byte) *platforms.Error {
		var acls aclsBody
		if err := httpx.DecodeObject(b, &acls); err != nil {
			return c.malformed(opPage, err)
		}
		orgID = ""
		for _, e := range acls.Elements {
			id, ok := orgIDOf(e.Organization)
			if ok && (e.Role == "" || e.Role == "ADMINISTRATOR") && (e.State == "" || e.State == "APPROVED") && (want == "" || id == want) {
				orgID = id
				return nil
			}
		}
		if want != "" && len(acls.Elements) > 0 {
			return c.newError(opPage, platforms.Reauth, 0, fmt.Errorf(
				"the member no longer administers LinkedIn organization %s: an ADMINISTRATOR of it must link again", want))
		}
		return c.newError(opPage, platforms.Permission, 0,
			errors.New("the member administers no LinkedIn page: an ADMINISTRATOR of the page must authorize Pulse"))
	})
	return orgID, err
}

// account reads the organization and its follower count and returns the
// account envelope.
func (s *session) account(ctx context.Context, orgID string) ([]byte, error) {
	c := s.c
	org, err := s.get(ctx, opAccount, "/rest/organizations/"+orgID, "", func(b []byte) *platforms.Error {
		var o organizationBody
		if err := httpx.DecodeObject(b, &o); err != nil {
			return c.malformed(opAccount, err)
		}
		if got := o.orgID(); got != orgID {
			return c.newError(opAccount, platforms.Permanent, 0, fmt.Errorf("asked for organization %s, got %q", orgID, got))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The URN is a path segment, its colons percent-encoded as LinkedIn
	// documents it.
	urn := url.QueryEscape(orgURNPrefix + orgID)
	sizes, err := s.get(ctx, opFollowers, "/rest/networkSizes/"+urn, "edgeType=COMPANY_FOLLOWED_BY_MEMBER", func(b []byte) *platforms.Error {
		var ns networkSizeBody
		if err := httpx.DecodeObject(b, &ns); err != nil {
			return c.malformed(opFollowers, err)
		}
		if ns.FirstDegreeSize == nil {
			return c.newError(opFollowers, platforms.Permanent, 0, errors.New("no firstDegreeSize in response"))
		}
		if err := ns.validate(); err != nil {
			return c.newError(opFollowers, platforms.Permanent, 0, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c.envelope(opAccount, accountEnvelope{Organization: org, NetworkSizes: sizes})
}

// postsPage reads the page of posts at start and the statistics of its
// posts created at or after since, and returns their envelope and the
// decoded page.
func (s *session) postsPage(ctx context.Context, orgID, author string, start int, since int64) ([]byte, postsBody, error) {
	c := s.c
	var page postsBody
	q := "q=author&author=" + author + "&sortBy=CREATED&count=" + strconv.Itoa(PageSize) + "&start=" + strconv.Itoa(start)
	posts, err := s.get(ctx, opPosts, "/rest/posts", q, func(b []byte) *platforms.Error {
		page = postsBody{}
		if err := httpx.DecodeObject(b, &page); err != nil {
			return c.malformed(opPosts, err)
		}
		if err := page.validate(); err != nil {
			return c.newError(opPosts, platforms.Permanent, 0, fmt.Errorf("page at %d: %w", start, err))
		}
		return nil
	})
	if err != nil {
		return nil, page, err
	}
	env := postsEnvelope{Posts: posts, Since: since}

	var shares, ugcPosts []string
	for _, p := range page.Elements {
		if p.CreatedAt < since {
			continue
		}
		switch postKind(p.ID) {
		case "share":
			shares = append(shares, url.QueryEscape(p.ID))
		case "ugcPost":
			ugcPosts = append(ugcPosts, url.QueryEscape(p.ID))
		}
	}
	if len(shares)+len(ugcPosts) > 0 {
		q := "q=organizationalEntity&organizationalEntity=" + url.QueryEscape(orgURNPrefix+orgID)
		if len(shares) > 0 {
			q += "&shares=List(" + strings.Join(shares, ",") + ")"
		}
		if len(ugcPosts) > 0 {
			q += "&ugcPosts=List(" + strings.Join(ugcPosts, ",") + ")"
		}
		env.Statistics, err = s.get(ctx, opStatistics, "/rest/organizationalEntityShareStatistics", q, func(b []byte) *platforms.Error {
			var sb statisticsBody
			if err := httpx.DecodeObject(b, &sb); err != nil {
				return c.malformed(opStatistics, err)
			}
			if err := sb.validate(); err != nil {
				return c.newError(opStatistics, platforms.Permanent, 0, err)
			}
			return nil
		})
		if err != nil {
			return nil, page, err
		}
	}
	b, err := c.envelope(opPosts, env)
	return b, page, err
}

// more reports whether posts follow page: paging.links has a next link,
// or paging.total says so, or (LinkedIn reporting neither) the page is
// full.
func (p *postsBody) more() bool {
	for _, l := range p.Paging.Links {
		if l.Rel == "next" {
			return true
		}
	}
	if p.Paging.Total != nil {
		return p.Paging.Start+len(p.Elements) < *p.Paging.Total
	}
	return len(p.Elements) >= PageSize
}

// session is one Fetch's state: the token, and the result it accumulates
// Calls and Limit into.
type session struct {
	c     *Connector
	token string
	f     *platforms.Fetch
}

// get performs GET BaseURL+path?rawQuery and returns the body once check
// accepts it. check classifies a 2xx body it cannot use. The token is
// redacted from any error, whatever its source (a server may echo the
// Authorization header in an error body).
func (s *session) get(ctx context.Context, op, path, rawQuery string, check func([]byte) *platforms.Error) ([]byte, error) {
	body, err := s.retry(ctx, op, path, rawQuery, check)
	if err != nil {
		err.Err = httpx.Redact(err.Err, s.token)
		return nil, err
	}
	return body, nil
}

func (s *session) retry(ctx context.Context, op, path, rawQuery string, check func([]byte) *platforms.Error) ([]byte, *platforms.Error) {
	for attempt := 1; ; attempt++ {
		body, err := s.once(ctx, op, path, rawQuery, check)
		if err == nil {
			return body, nil
		}
		if err.Class != platforms.Transient || attempt == maxAttempts || ctx.Err() != nil {
			return nil, err
		}
		if werr := httpx.Sleep(ctx, httpx.Backoff(s.c.backoff, attempt)); werr != nil {
			return nil, &platforms.Error{
				Platform: err.Platform, Op: op, Class: platforms.Transient, Status: err.Status, Code: err.Code, Limit: err.Limit,
				Err: fmt.Errorf("retry abandoned: %w (attempt %d: %w)", werr, attempt, err.Err),
			}
		}
	}
}

// once performs one request.
func (s *session) once(ctx context.Context, op, path, rawQuery string, check func([]byte) *platforms.Error) ([]byte, *platforms.Error) {
	c := s.c
	target := c.baseURL + path
	if rawQuery != "" {
		target += "?" + rawQuery
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, c.newError(op, platforms.Permanent, 0, fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("LinkedIn-Version", APIVersion)
	req.Header.Set("X-Restli-Protocol-Version", RestliProtocolVersion)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", httpx.UserAgent)

	s.f.Calls++
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, c.newError(op, platforms.Transient, 0, err)
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		// Classified by status: a body cut short still says enough.
		e := c.statusError(op, resp.StatusCode, body)
		if e.Class != platforms.Throttled {
			e.Limit = c.window()
		}
		s.f.Limit = e.Limit
		return nil, e
	case err != nil:
		return nil, c.withLimit(c.newError(op, platforms.Transient, resp.StatusCode, fmt.Errorf("read body: %w", err)))
	case len(body) > maxBodyBytes:
		return nil, c.withLimit(c.newError(op, platforms.Permanent, resp.StatusCode, fmt.Errorf("body exceeds %d bytes", maxBodyBytes)))
	}
	s.f.Limit = c.window()
	if e := check(body); e != nil {
		e.Status, e.Limit = resp.StatusCode, s.f.Limit
		return nil, e
	}
	return body, nil
}

// withLimit sets e's Limit to the current window's.
func (c *Connector) withLimit(e *platforms.Error) *platforms.Error {
	e.Limit = c.window()
	return e
}

// malformed returns the Transient error of a 2xx body that does not
// decode: a truncated or garbled answer is worth another attempt.
func (c *Connector) malformed(op string, err error) *platforms.Error {
	return c.newError(op, platforms.Transient, 0, fmt.Errorf("malformed body: %w", err))
}

// envelope encodes an envelope of raw bodies. They decoded before, so it
// cannot fail but for a bug: that is Permanent.
func (c *Connector) envelope(op string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, c.newError(op, platforms.Permanent, 0, fmt.Errorf("encode envelope: %w", err))
	}
	return b, nil
}
