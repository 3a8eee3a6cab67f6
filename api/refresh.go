package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/pulsehq/pulse/api/graph"
)

// refreshJob is a job as POST /api/v1/refresh returns it.
type refreshJob struct {
	ID        string     `json:"id"`
	LinkID    string     `json:"linkId"`
	State     string     `json:"state"` // queued, fetching, processed, visible, deferred, failed
	Reason    string     `json:"reason,omitempty"`
	RunAt     *time.Time `json:"runAt,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
}

// startRefresh serves POST /api/v1/refresh, for scripts: body
// {"linkId": "…"} (optional; without it every linked account), answered
// with 202 and {"jobs": [...]}, each job's state as the GraphQL
// refreshJobs query reports it (which is where to follow it). Requires a
// session (bearer token or cookie); the body, when present, must be JSON.
func (s *Server) startRefresh(w http.ResponseWriter, r *http.Request) {
	u, ok := graph.UserFrom(r.Context())
	if !ok {
		writeJSON(w, http.StatusUnauthorized, errBody("unauthorized", "sign in required"))
		return
	}
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, errBody("forbidden", "cross-origin request refused"))
		return
	}
	var body struct {
		LinkID string `json:"linkId"`
	}
	if r.ContentLength != 0 {
		if !isJSON(r) {
			writeJSON(w, http.StatusUnsupportedMediaType, errBody("invalid_request", "Content-Type must be application/json"))
			return
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<12)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			writeJSON(w, http.StatusBadRequest, errBody("invalid_request", `body must be JSON {"linkId": "…"} or empty`))
			return
		}
	} else if cookieAuthenticated(r) {
		// A cookie-authenticated POST without a JSON body could come from
		// another site's form.
		writeJSON(w, http.StatusUnsupportedMediaType, errBody("invalid_request", "Content-Type must be application/json"))
		return
	}
	jobs, err := s.cfg.Links.StartRefresh(r.Context(), u.ID, body.LinkID)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	s.resolver.NotifyPress(u.ID)
	out := make([]refreshJob, 0, len(jobs))
	for _, j := range jobs {
		rj := refreshJob{ID: j.ID, LinkID: j.LinkID, State: string(j.State), Reason: j.Reason, CreatedAt: j.CreatedAt}
		if !j.RunAt.IsZero() {
			t := j.RunAt
			rj.RunAt = &t
		}
		out = append(out, rj)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"jobs": out})
}

// refreshNotAllowed answers GET /api/v1/refresh (and /api/v1/refresh/…,
// the brief's GET /{userId}/refresh): a GET must not change state.
func (s *Server) refreshNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	writeJSON(w, http.StatusMethodNotAllowed, errBody("method_not_allowed",
		"a refresh changes state: use POST /api/v1/refresh (body {\"linkId\": \"…\"} optional), then follow the jobs with the refreshJobs query"))
}

func cookieAuthenticated(r *http.Request) bool {
	u, _ := graph.UserFrom(r.Context())
	return u.Cookie
}
