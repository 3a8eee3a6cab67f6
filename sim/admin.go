package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// The admin API under /_sim/ (see the package documentation).

func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/accounts", s.handleAccounts)
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) })
	mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.allFaults()) })
	mux.HandleFunc("POST /_sim/faults", s.handleSetFaults)
	mux.HandleFunc("POST /_sim/tokens", s.handleIssueToken)
	mux.HandleFunc("POST /_sim/revoke", s.handleRevoke)
}

// accountView is an account with its counters now, for /_sim/accounts.
type accountView struct {
	Account
	Metrics AccountMetrics `json:"metrics"`
}

func (s *Server) handleAccounts(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	out := make(map[topics.Platform][]accountView, len(s.order))
	for _, p := range s.order {
		for _, a := range s.platforms[p].accounts {
			out[p] = append(out[p], accountView{Account: a.Account, Metrics: a.metrics(now)})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) allFaults() map[topics.Platform]Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[topics.Platform]Faults, len(s.platforms))
	for p, ps := range s.platforms {
		out[p] = ps.faults
	}
	return out
}

// handleSetFaults replaces the faults of the platforms in the body, all or
// none: {"x": {"server_error": {"next": 2}, "slow": {"probability": 0.1},
// "slow_delay": "3s"}}. It answers with every platform's faults.
func (s *Server) handleSetFaults(w http.ResponseWriter, r *http.Request) {
	var in map[topics.Platform]Faults
	if err := decodeBody(w, r, &in); err != nil {
		adminError(w, http.StatusBadRequest, err)
		return
	}
	if len(in) == 0 {
		adminError(w, http.StatusBadRequest, errors.New("no platform in body"))
		return
	}
	for p, f := range in {
		if _, err := s.state(p); err != nil {
			adminError(w, http.StatusNotFound, err)
			return
		}
		if err := f.validate(); err != nil {
			adminError(w, http.StatusBadRequest, fmt.Errorf("%s: %w", p, err))
			return
		}
	}
	s.mu.Lock()
	for p, f := range in {
		s.platforms[p].faults = f
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.allFaults())
}

// handleIssueToken serves POST /_sim/tokens {"platform", "account_id"}
// with {"access_token", "refresh_token", "expires_at"}.
func (s *Server) handleIssueToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Platform  topics.Platform `json:"platform"`
		AccountID string          `json:"account_id"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		adminError(w, http.StatusBadRequest, err)
		return
	}
	access, refresh, exp, err := s.IssueToken(in.Platform, in.AccountID)
	if err != nil {
		adminError(w, http.StatusNotFound, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		AccessToken  string    `json:"access_token"`
		RefreshToken string    `json:"refresh_token"`
		ExpiresAt    time.Time `json:"expires_at"`
	}{access, refresh, exp})
}

// handleRevoke serves POST /_sim/revoke {"token"} with {"revoked": bool}.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token string `json:"token"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		adminError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"revoked": s.Revoke(in.Token)})
}

// decodeBody decodes a JSON request body of at most maxFormBytes into v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	if dec.More() {
		return errors.New("invalid JSON body: trailing data")
	}
	return nil
}

func adminError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
