package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// The request pipeline shared by the platforms' API endpoints: token check,
// rate limit, fault injection, JSON answer and stats.

// apiCall is one authenticated API request as a platform handler sees it.
type apiCall struct {
	r     *http.Request
	now   time.Time
	grant *grant
	acct  *account
}

// apiHandler answers an authenticated request with a status and a value to
// encode as JSON.
type apiHandler func(c *apiCall) (status int, body any)

// api returns an http.HandlerFunc serving endpoint of platform ps with h,
// after checking the token and the rate limit and injecting faults.
func (s *Server) api(ps *platformState, endpoint string, h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.serveAPI(ps, endpoint, h, w, r)
	}
}

func (s *Server) serveAPI(ps *platformState, endpoint string, h apiHandler, w http.ResponseWriter, r *http.Request) {
	res := s.answerAPI(ps, endpoint, h, w.Header(), r)
	if res.status >= 400 {
		res.counts.Errors++
	}
	// Count before answering, so a client that has its answer sees it in
	// the stats.
	s.record(ps.impl.platform(), endpoint, res.app, res.account, res.counts)
	if res.body != nil {
		writeRaw(w, res.status, res.body)
	}
}

// apiResult is an API answer, with what the stats need to know about it.
type apiResult struct {
	status  int
	body    []byte // nil: write nothing (the client went away)
	app     string
	account string
	counts  Counts
}

// answerAPI runs the pipeline for one request; it sets response headers on
// header and returns the rest of the answer.
func (s *Server) answerAPI(ps *platformState, endpoint string, h apiHandler, header http.Header, r *http.Request) apiResult {
	p := ps.impl.platform()
	now := s.now()
	res := apiResult{counts: Counts{Requests: 1}}
	fail := func(code int, q quota) apiResult {
		status, body := ps.impl.errorBody(code, q)
		res.status, res.body = status, marshal(body)
		return res
	}

	token := ps.impl.accessToken(r)
	s.mu.Lock()
	f := &ps.faults
	if token != "" && f.Revoke.fire(ps.rng) {
		s.revokeLocked(token)
		res.counts.Faults++
	}
	g, ok := s.accessLocked(p, token)
	if !ok {
		s.mu.Unlock()
		return fail(http.StatusUnauthorized, quota{})
	}
	res.app, res.account = g.clientID, g.accountID
	qs, denied := s.takeLocked(ps.impl.meters(endpoint, g), now)
	var throttle, unavailable, badRequest, slow bool
	if denied < 0 {
		throttle = f.RateLimit.fire(ps.rng)
		unavailable = !throttle && f.ServerError.fire(ps.rng)
		badRequest = !throttle && !unavailable && f.BadRequest.fire(ps.rng)
		slow = f.Slow.fire(ps.rng)
	}
	delay := f.slowDelay()
	s.mu.Unlock()

	switch {
	case denied >= 0:
		res.counts.LimitBreaches++
		ps.impl.setQuotaHeaders(header, now, qs)
		return fail(http.StatusTooManyRequests, qs[denied])
	case throttle:
		// As if the narrowest window were exhausted.
		res.counts.Faults++
		if len(qs) == 0 {
			qs = []quota{{limit: -1, reset: now.Add(DefaultWindow)}}
		}
		i := len(qs) - 1
		qs[i].remaining = 0
		ps.impl.setQuotaHeaders(header, now, qs)
		return fail(http.StatusTooManyRequests, qs[i])
	}
	if len(qs) > 0 {
		ps.impl.setQuotaHeaders(header, now, qs)
	}
	if slow {
		res.counts.Faults++
		if wait(r.Context(), delay) != nil {
			res.status = 499 // nginx's "client closed request"; nothing is written
			return res
		}
	}
	switch {
	case unavailable:
		res.counts.Faults++
		return fail(http.StatusServiceUnavailable, quota{})
	case badRequest:
		res.counts.Faults++
		return fail(http.StatusBadRequest, quota{})
	}

	code, v := h(&apiCall{r: r, now: now, grant: g, acct: ps.byID[g.accountID]})
	res.status, res.body = code, marshal(v)
	if code >= 200 && code < 300 {
		s.mu.Lock()
		truncate := f.Truncate.fire(ps.rng)
		malformed := !truncate && f.Malformed.fire(ps.rng)
		s.mu.Unlock()
		switch {
		case truncate:
			res.counts.Faults++
			res.body = res.body[:len(res.body)/2]
		case malformed:
			res.counts.Faults++
			res.body = corrupt(res.body)
		}
	}
	return res
}

// corrupt turns a JSON document into something that is not JSON, the way a
// misbehaving proxy might: the first colon becomes an equals sign.
func corrupt(b []byte) []byte {
	b = bytes.Clone(b)
	if i := bytes.IndexByte(b, ':'); i >= 0 {
		b[i] = '='
		return b
	}
	return append([]byte("<html>"), b...)
}

// wait sleeps d or until ctx is done.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeJSON encodes v as the response body.
func writeJSON(w http.ResponseWriter, status int, v any) { writeRaw(w, status, marshal(v)) }

// marshal encodes v, which is one of the package's own JSON types and so
// cannot fail to encode.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("sim: encoding a response: " + err.Error())
	}
	return b
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-cache, no-store")
	w.WriteHeader(status)
	w.Write(b)
}
