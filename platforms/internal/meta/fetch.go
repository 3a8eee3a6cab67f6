package meta

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
)

// Session is one fetch's state: the tokens it used (redacted from every
// error) and the result it accumulates Calls, Limit and PostBodies into.
// It is not safe for concurrent use.
type Session struct {
	c       *Client
	f       *platforms.Fetch
	secrets []string
	// TokenInQuery sends the token as the access_token parameter instead
	// of an Authorization header (graph.instagram.com).
	TokenInQuery bool
}

// NewSession starts a fetch that accumulates into f.
func (c *Client) NewSession(f *platforms.Fetch) *Session { return &Session{c: c, f: f} }

// Get performs GET BaseURL/Version/path?q with token and returns the body
// once check accepts it (check may be nil; it classifies a 2xx body it
// cannot use). Each attempt that fails with a Transient error (5xx, Meta
// codes 1 and 2, network failure, timeout, malformed body) is retried, up
// to MaxAttempts in all, with exponential backoff and jitter; waiting stops
// when ctx is done. Other classes are returned at once.
//
// When the app secret is known, the call carries appsecret_proof, as Meta
// recommends. Every token the session used is redacted from the error,
// whatever its source.
func (s *Session) Get(ctx context.Context, op, path string, q url.Values, token string, check func([]byte) *platforms.Error) ([]byte, error) {
	s.secrets = append(s.secrets, token)
	body, err := s.retry(ctx, op, path, q, token, check)
	if err != nil {
		err.Err = httpx.Redact(err.Err, append(s.secrets, s.c.ClientSecret)...)
		return nil, err
	}
	return body, nil
}

func (s *Session) retry(ctx context.Context, op, path string, q url.Values, token string, check func([]byte) *platforms.Error) ([]byte, *platforms.Error) {
	for attempt := 1; ; attempt++ {
		body, err := s.once(ctx, op, path, q, token, check)
		if err == nil {
			return body, nil
		}
		if err.Class != platforms.Transient || attempt == MaxAttempts || ctx.Err() != nil {
			return nil, err
		}
		if werr := httpx.Sleep(ctx, httpx.Backoff(s.c.Backoff, attempt)); werr != nil {
			return nil, &platforms.Error{
				Platform: err.Platform, Op: op, Class: platforms.Transient, Status: err.Status, Code: err.Code, Limit: err.Limit,
				Err: fmt.Errorf("retry abandoned: %w (attempt %d: %v)", werr, attempt, err.Err),
			}
		}
	}
}

// once performs one request.
func (s *Session) once(ctx context.Context, op, path string, q url.Values, token string, check func([]byte) *platforms.Error) ([]byte, *platforms.Error) {
	c := s.c
	params := url.Values{}
	for k, v := range q {
		params[k] = v
	}
	if c.ClientSecret != "" {
		params.Set("appsecret_proof", AppSecretProof(c.ClientSecret, token))
	}
	if s.TokenInQuery {
		params.Set("access_token", token)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/"+Version+path+"?"+params.Encode(), nil)
	if err != nil {
		return nil, c.NewError(op, platforms.Permanent, 0, fmt.Errorf("build request: %w", err))
	}
	if !s.TokenInQuery {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", httpx.UserAgent)

	s.f.Calls++
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, c.NewError(op, platforms.Transient, 0, err)
	}
	defer resp.Body.Close()

	limit, ok := ParseUsage(resp.Header, c.Now())
	if ok {
		s.f.Limit = limit
		for _, u := range ParseScopes(resp.Header, c.Now()) {
			platforms.SetUsage(&s.f.Usage, u)
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		e := c.NewError(op, platforms.Transient, resp.StatusCode, fmt.Errorf("read body: %w", err))
		e.Limit = limit
		return nil, e
	}
	if len(body) > maxBodyBytes {
		e := c.NewError(op, platforms.Permanent, resp.StatusCode, fmt.Errorf("body exceeds %d bytes", maxBodyBytes))
		e.Limit = limit
		return nil, e
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 || ParseError(body) != nil {
		return nil, c.apiError(op, resp.StatusCode, body, limit, resp.Header)
	}
	if check != nil {
		if e := check(body); e != nil {
			e.Status, e.Limit = resp.StatusCode, limit
			return nil, e
		}
	}
	return body, nil
}

// AppSecretProof is the appsecret_proof of token: the hex HMAC-SHA256 of
// the token keyed by the app secret.
func AppSecretProof(secret, token string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(token))
	return hex.EncodeToString(mac.Sum(nil))
}

// Malformed returns the Transient error of a 2xx body that does not
// decode: a truncated or garbled answer is worth another attempt.
func (c *Client) Malformed(op string, err error) *platforms.Error {
	return c.NewError(op, platforms.Transient, 0, fmt.Errorf("malformed body: %w", err))
}

// Paging is a Graph API list's paging object.
type Paging struct {
	Cursors struct {
		Before string `json:"before"`
		After  string `json:"after"`
	} `json:"cursors"`
	Next string `json:"next"`
}

// NextQuery returns the query of the page after p, from q: q with p's
// after cursor or, for a list paged otherwise (by time), the parameters of
// p.Next without credentials. ok is false on the last page: Meta omits
// next there.
func NextQuery(q url.Values, p Paging) (url.Values, bool) {
	if p.Next == "" {
		return nil, false
	}
	next := url.Values{}
	for k, v := range q {
		next[k] = v
	}
	if p.Cursors.After != "" {
		next.Set("after", p.Cursors.After)
		next.Del("before")
		return next, true
	}
	u, err := url.Parse(p.Next)
	if err != nil {
		return nil, false
	}
	nq := u.Query()
	nq.Del("access_token")
	nq.Del("appsecret_proof")
	if len(nq) == 0 {
		return nil, false
	}
	return nq, true
}

// ListPage is what ReadList needs from one page of a list edge.
type ListPage struct {
	// Times are the items' creation times.
	Times []time.Time
	// Paging is the page's paging object.
	Paging Paging
}

// ReadList reads up to the client's MaxPages pages of the list edge at
// path (newest first), starting with query q, appending each body to the
// fetch's PostBodies. decode parses a page; a page it rejects is a
// malformed answer (Transient, retried). It returns the newest item time
// seen (zero if none). On error, the pages read so far stay in the fetch.
func (s *Session) ReadList(ctx context.Context, op, path string, q url.Values, token string, decode func([]byte) (ListPage, error)) (time.Time, error) {
	var newest time.Time
	for range s.c.MaxPages {
		var page ListPage
		body, err := s.Get(ctx, op, path, q, token, func(b []byte) *platforms.Error {
			var derr error
			if page, derr = decode(b); derr != nil {
				return s.c.Malformed(op, derr)
			}
			return nil
		})
		if err != nil {
			return newest, err
		}
		s.f.PostBodies = append(s.f.PostBodies, body)
		for _, t := range page.Times {
			if t.After(newest) {
				newest = t
			}
		}
		var more bool
		if q, more = NextQuery(q, page.Paging); !more {
			break
		}
	}
	return newest, nil
}

// ParseCursor validates an incremental cursor: the Unix time, in seconds,
// of the newest post already read, as made by FormatCursor. "" is the zero
// time (no cursor).
func ParseCursor(cursor string) (time.Time, error) {
	if cursor == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(cursor, 10, 64)
	// 1e11 seconds is year 5138: anything larger is not a Meta time.
	if err != nil || n <= 0 || n >= 1e11 || strconv.FormatInt(n, 10) != cursor {
		return time.Time{}, fmt.Errorf("cursor %q is not a Unix time", cursor)
	}
	return time.Unix(n, 0).UTC(), nil
}

// SinceParam is the posts call's since parameter for a fetch from cursor
// (valid, or "") that also re-reads the posts created at or after since
// (zero: none): the earlier of the two, "" without a cursor (the default
// window).
func SinceParam(cursor string, since time.Time) string {
	t, _ := ParseCursor(cursor)
	switch {
	case cursor == "":
		return ""
	case !since.IsZero() && since.Unix() < t.Unix():
		return FormatCursor(since)
	}
	return cursor
}

// FormatCursor makes the cursor of time t.
func FormatCursor(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// NextCursor is the cursor after a fetch from cursor (valid, or "") that
// saw posts up to newest: newest's when it is later, else cursor.
func NextCursor(cursor string, newest time.Time) string {
	since, _ := ParseCursor(cursor)
	if newest.Unix() > since.Unix() && newest.Unix() > 0 {
		return FormatCursor(newest)
	}
	return cursor
}

// ID is an id the Graph API sends as a string or, in some Instagram
// answers, as a number.
type ID string

// UnmarshalJSON accepts a JSON string or number; null leaves id empty.
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = ID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id %s is neither a string nor a number", b)
	}
	*id = ID(n.String())
	return nil
}

// timeLayouts are the Graph API's time formats: "2026-11-25T10:00:00+0000",
// and RFC 3339 for good measure.
var timeLayouts = []string{"2006-01-02T15:04:05-0700", time.RFC3339Nano}

// ParseTime parses a Graph API time, in UTC.
func ParseTime(s string) (time.Time, error) {
	var first error
	for _, l := range timeLayouts {
		t, err := time.Parse(l, s)
		if err == nil {
			return t.UTC(), nil
		}
		if first == nil {
			first = err
		}
	}
	return time.Time{}, first
}
