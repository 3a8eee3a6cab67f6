package api

import (
	"context"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api/graph"
)

// purgeTimeout bounds the immediate analytics purge of a deleted user; the
// refresher retries a purge that fails or times out.
const purgeTimeout = 30 * time.Second

// DeleteAccount deletes the signed-in user u after checking password
// (under the sign-in throttle): their data key (crypto-shredding the stored
// OAuth tokens), sessions, links and pending link requests, then their
// analytics rows. It implements the deleteAccount mutation.
//
// The analytics purge is enqueued in PostgreSQL in the same transaction as
// the deletion and attempted at once; if it fails (or no Purger is
// configured) the request stays queued and the refresher retries it, so a
// deletion is never lost. The returned error is nil once the PostgreSQL
// deletion has committed.
func (s *Server) DeleteAccount(ctx context.Context, u graph.SessionUser, password string) error {
	attempt, retry, err := s.cfg.Throttle.AdmitLogin(ctx, u.Email, infoFrom(ctx).client, s.cfg.LoginLimits)
	if err != nil {
		return err
	}
	if retry > 0 {
		return &graph.Error{Code: graph.CodeThrottled, Message: throttledMessage(retry)}
	}
	if _, err := s.cfg.Users.Authenticate(ctx, u.Email, password); err != nil {
		if pulse.ErrorCode(err) == pulse.EUNAUTHORIZED {
			return &graph.Error{Code: graph.CodeForbidden, Message: "the password is not correct"}
		}
		return err
	}
	if err := s.cfg.Throttle.LoginSucceeded(ctx, attempt); err != nil {
		s.log.Warn("api: clear sign-in failures", "user", u.ID, "err", err)
	}
	req, err := s.cfg.Users.DeleteUser(ctx, u.ID)
	if err != nil {
		return err
	}
	s.log.Info("api: user deleted", "user", u.ID)
	// The deletion is committed; finish the purge even if the client goes.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), purgeTimeout)
	defer cancel()
	s.purge(pctx, req)
	return nil
}

// purge deletes the user's analytics rows and reports the outcome to the
// purge queue. Failures are logged; the refresher retries them.
func (s *Server) purge(ctx context.Context, req pulse.PurgeRequest) {
	userID := req.UserID
	if s.cfg.Purger == nil {
		s.log.Warn("api: no analytics purger configured; purge left to the refresher", "user", userID)
		return
	}
	if err := s.cfg.Purger.Purge(ctx, req); err != nil {
		s.log.Warn("api: purge analytics; the refresher will retry", "user", userID, "err", err)
		if err := s.cfg.Purges.PurgeFailed(ctx, userID, err.Error()); err != nil {
			s.log.Warn("api: record purge failure", "user", userID, "err", err)
		}
		return
	}
	if err := s.cfg.Purges.PurgeDone(ctx, userID); err != nil {
		// The purge will simply run again.
		s.log.Warn("api: record purge", "user", userID, "err", err)
	}
}
