package x

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
	"github.com/pulsehq/pulse/topics"
)

// Operation names used in platforms.Error.Op.
const (
	opAccount = "fetch account"
	opPosts   = "fetch posts"
)

// usageNames are the names of the per-user limits each operation's
// x-rate-limit-* headers report (the scheduler's scope names).
var usageNames = map[string]string{opAccount: "users/me", opPosts: "users/:id/tweets"}

// Fetch reads the token's user (GET /2/users/me) and its posts
// (GET /2/users/:id/tweets, 100 per page, newest first) up to MaxPostPages
// pages. A non-empty cursor is a post id: only newer posts are read
// (since_id); with req.Since before the cursor's post (the decaying
// refresh), every post created since then is read instead (start_time).
// Fetch.NextCursor is the newest post id seen, or cursor when
// there was none. Fetch.PostsRead counts the posts read (X meters reads by
// the post); req.SkipPosts reads the user only.
//
// Each request that fails with a Transient error (5xx, network failure,
// timeout, malformed body) is retried up to 3 attempts in all, with
// exponential backoff and jitter; waiting stops when ctx is done. Other
// classes are returned at once. Errors are *platforms.Error and never
// contain the token.
//
// The returned *Fetch is never nil: on error it holds what was read before
// the failure, with Calls and Limit for quota accounting and NextCursor
// still cursor.
func (c *Connector) Fetch(ctx context.Context, tok *oauth2.Token, req platforms.Request) (*platforms.Fetch, error) {
	cursor := req.Cursor
	f := &platforms.Fetch{NextCursor: cursor, Limit: platforms.Unknown()}
	if tok == nil || tok.AccessToken == "" {
		return f, c.newError(opAccount, platforms.Reauth, 0, errors.New("no access token"))
	}
	if cursor != "" && !isID(cursor) {
		return f, c.newError(opPosts, platforms.Permanent, 0, fmt.Errorf("cursor %q is not a post id", cursor))
	}
	s := &session{c: c, token: tok.AccessToken, f: f}

	var me accountBody
	q := url.Values{"user.fields": {"public_metrics,username"}}
	body, err := s.get(ctx, opAccount, usersMePath, q, func(b []byte) *platforms.Error {
		return c.decodeAccount(b, &me)
	})
	if err != nil {
		return f, err
	}
	if req.AccountID != "" && me.Data.ID != req.AccountID {
		// An X token is one user's: another user's answer is never stored.
		return f, c.newError(opAccount, platforms.Reauth, 0, fmt.Errorf("the token belongs to user %s, not to the linked user %s: link again", me.Data.ID, req.AccountID))
	}
	f.AccountBody, f.AccountID = body, me.Data.ID
	if req.SkipPosts {
		return f, nil
	}

	newest := cursor
	path := "/2/users/" + url.PathEscape(me.Data.ID) + "/tweets"
	q = url.Values{
		"tweet.fields": {"public_metrics,created_at"},
		"max_results":  {strconv.Itoa(pageSize)},
	}
	switch {
	case cursor != "" && !req.Since.IsZero() && req.Since.Before(idTime(cursor)):
		// The decaying refresh reaches further back than the cursor: X
		// applies since_id and start_time both, so send start_time alone.
		q.Set("start_time", req.Since.UTC().Format(time.RFC3339))
	case cursor != "":
		q.Set("since_id", cursor)
	}
	for range c.maxPages {
		var page postsBody
		body, err := s.get(ctx, opPosts, path, q, func(b []byte) *platforms.Error {
			page = postsBody{}
			return c.decodePosts(b, &page)
		})
		if err != nil {
			return f, err
		}
		f.PostBodies = append(f.PostBodies, body)
		f.PostsRead += len(page.Data)
		for _, p := range page.Data {
			if isID(p.ID) && newerID(p.ID, newest) {
				newest = p.ID
			}
		}
		if page.Meta.NextToken == "" {
			break
		}
		q.Set("pagination_token", page.Meta.NextToken)
	}
	f.NextCursor = newest
	return f, nil
}

// session is one Fetch's state: the token, and the result it accumulates
// Calls and Limit into.
type session struct {
	c     *Connector
	token string
	f     *platforms.Fetch
}

// get performs GET path?q, retrying Transient failures, and returns the
// body once check accepts it. check classifies a 2xx body it cannot use.
// The token is redacted from any error, whatever its source (a server may
// echo the Authorization header in an error body).
func (s *session) get(ctx context.Context, op, path string, q url.Values, check func([]byte) *platforms.Error) ([]byte, error) {
	body, err := s.retry(ctx, op, path, q, check)
	if err != nil {
		err.Err = httpx.RedactRaw(err.Err, s.token)
		return nil, err
	}
	return body, nil
}

func (s *session) retry(ctx context.Context, op, path string, q url.Values, check func([]byte) *platforms.Error) ([]byte, *platforms.Error) {
	for attempt := 1; ; attempt++ {
		body, err := s.once(ctx, op, path, q, check)
		if err == nil {
			return body, nil
		}
		if err.Class != platforms.Transient || attempt == maxAttempts || ctx.Err() != nil {
			return nil, err
		}
		if werr := httpx.Sleep(ctx, httpx.Backoff(s.c.backoff, attempt)); werr != nil {
			return nil, &platforms.Error{
				Platform: err.Platform, Op: op, Class: platforms.Transient, Status: err.Status, Limit: err.Limit,
				Err: fmt.Errorf("retry abandoned: %w (attempt %d: %v)", werr, attempt, err.Err),
			}
		}
	}
}

// once performs one request.
func (s *session) once(ctx context.Context, op, path string, q url.Values, check func([]byte) *platforms.Error) ([]byte, *platforms.Error) {
	c := s.c
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, c.newError(op, platforms.Permanent, 0, fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", httpx.UserAgent)

	s.f.Calls++
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, c.newError(op, platforms.Transient, 0, err)
	}
	defer resp.Body.Close()

	limit, ok := parseRateLimit(resp.Header)
	if ok {
		s.f.Limit = limit
		if name := usageNames[op]; name != "" {
			platforms.SetUsage(&s.f.Usage, platforms.Usage{Scope: topics.LimitScopeAccount, Name: name,
				UsedPct: -1, Remaining: limit.Remaining, Limit: limit.Limit, Reset: limit.Reset})
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		e := c.newError(op, platforms.Transient, resp.StatusCode, fmt.Errorf("read body: %w", err))
		e.Limit = limit
		return nil, e
	}
	if len(body) > maxBodyBytes {
		e := c.newError(op, platforms.Permanent, resp.StatusCode, fmt.Errorf("body exceeds %d bytes", maxBodyBytes))
		e.Limit = limit
		return nil, e
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusError(op, resp.StatusCode, body, limit)
	}
	if e := check(body); e != nil {
		e.Status, e.Limit = resp.StatusCode, limit
		return nil, e
	}
	return body, nil
}

// decodeAccount checks a users/me body: malformed JSON is Transient (a
// truncated or garbled response is worth another attempt); a well-formed
// body without a user is Permanent.
func (c *Connector) decodeAccount(b []byte, me *accountBody) *platforms.Error {
	if err := httpx.DecodeObject(b, me); err != nil {
		return c.newError(opAccount, platforms.Transient, 0, fmt.Errorf("malformed body: %w", err))
	}
	if me.Data.ID == "" {
		msg := "no user in response"
		if _, detail := describe(b); detail != "" {
			msg += ": " + detail
		}
		return c.newError(opAccount, platforms.Permanent, 0, errors.New(msg))
	}
	return nil
}

// decodePosts checks a timeline page; malformed JSON is Transient.
func (c *Connector) decodePosts(b []byte, page *postsBody) *platforms.Error {
	if err := httpx.DecodeObject(b, page); err != nil {
		return c.newError(opPosts, platforms.Transient, 0, fmt.Errorf("malformed body: %w", err))
	}
	return nil
}

// twitterEpoch is the Unix time, in milliseconds, X's snowflake ids
// count from.
const twitterEpoch = 1288834974657

// idTime is when the post with snowflake id id was created (to the
// millisecond): X ids are the creation time shifted left 22 bits.
func idTime(id string) time.Time {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(int64(n>>22) + twitterEpoch).UTC()
}

// isID reports whether s looks like an X id: 1 to 19 decimal digits, with
// no leading zero.
func isID(s string) bool {
	if len(s) == 0 || len(s) > 19 || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// newerID reports whether id a is greater than b, both decimal strings
// without leading zeros (X ids grow with time); any id is newer than "".
func newerID(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}
