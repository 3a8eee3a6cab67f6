package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/pulsehq/pulse"
)

// SignUpLimits throttle account creation: per client network (one
// attacker filling the user table, or probing it) and across all networks
// (a distributed flood). Every sign-up counts, successful or not, for
// Window. Counts live in the sign-in throttle's store, apart from sign-in
// counts, so they hold across API replicas.
type SignUpLimits struct {
	Window     time.Duration
	PerNetwork int
	Global     int
}

// DefaultSignUpLimits allow 10 sign-ups per client network and 1,000
// overall per hour.
var DefaultSignUpLimits = SignUpLimits{Window: time.Hour, PerNetwork: 10, Global: 1000}

// signUpKey prefixes the throttle's client key for sign-ups, so they never
// count against sign-ins from the same network.
const signUpKey = "signup:"

// admitSignUp counts a sign-up from r's network and globally, or answers
// 429 with Retry-After and returns false.
func (s *Server) admitSignUp(w http.ResponseWriter, r *http.Request) bool {
	ctx := r.Context()
	l := s.cfg.SignUpLimits
	for _, c := range []struct {
		client string
		limit  int
	}{
		{signUpKey + infoFrom(ctx).client, l.PerNetwork},
		{signUpKey + "*", l.Global},
	} {
		retry, err := s.cfg.Throttle.AdmitAttempt(ctx, c.client, c.limit, l.Window)
		if err != nil {
			s.writeStoreError(w, err)
			return false
		}
		if retry > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(retry)))
			writeJSON(w, http.StatusTooManyRequests, errBody("throttled", "too many sign-ups from here; try again later"))
			return false
		}
	}
	return true
}

// signUp serves POST /auth/signup. Its answer never says whether the
// address is registered: the same 202 and body either way, after the same
// work (the password is hashed either way, one mail is sent either way).
// No session is granted: a fresh address gets a link that completes the
// sign-up (POST /auth/verify), a registered one a note that someone tried
// to sign up with it. 400 for a bad address or weak password (which depend
// on the input only), 429 past SignUpLimits.
func (s *Server) signUp(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readCredentials(w, r)
	if !ok {
		return
	}
	if !s.admitSignUp(w, r) {
		return
	}
	ctx := r.Context()
	su, err := s.cfg.Users.RequestSignUp(ctx, c.Email, c.Password)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	if err := s.cfg.Mailer.Send(ctx, s.signUpMail(su)); err != nil {
		s.log.Error("api: send sign-up mail", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, errBody("unavailable", "the mail could not be sent; try again later"))
		return
	}
	s.log.Info("api: sign-up requested")
	writeJSON(w, http.StatusAccepted, map[string]string{
		"status":  "verification_sent",
		"email":   su.Email,
		"message": "Check your mail: we sent " + su.Email + " a link to finish creating your account.",
	})
}

// signUpMail is the mail a sign-up sends: the link that completes it, or,
// for a registered address, a note.
func (s *Server) signUpMail(su pulse.SignUp) pulse.Mail {
	if su.Registered {
		return pulse.Mail{To: su.Email, Subject: "Someone tried to create a Pulse account with your address",
			Text: "Someone, perhaps you, tried to create a Pulse account with this address, which already has one.\n" +
				"Nothing was changed: your password and data are as they were.\n\n" +
				"To sign in, go to " + s.cfg.PublicURL + "/#/signin\n\n" +
				"If it was not you, you can ignore this mail.\n"}
	}
	return pulse.Mail{To: su.Email, Subject: "Finish creating your Pulse account",
		Text: "Open this link within " + strconv.Itoa(int(pulse.SignUpVerificationTTL.Hours())) +
			" hours to finish creating your Pulse account:\n\n" +
			s.cfg.PublicURL + "/#/verify?token=" + su.Token + "\n\n" +
			"If you did not sign up to Pulse, ignore this mail: no account is created without this link.\n"}
}

// verifySignUp serves POST /auth/verify {"token"}: it completes a sign-up
// with the token its mail carried, creating the user, and signs in like
// POST /auth/login (201). 404 for an unknown, used or expired token.
func (s *Server) verifySignUp(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, errBody("forbidden", "cross-origin request refused"))
		return
	}
	if !isJSON(r) {
		writeJSON(w, http.StatusUnsupportedMediaType, errBody("invalid_request", "Content-Type must be application/json"))
		return
	}
	var body struct {
		Token string `json:"token"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<12)
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Token == "" {
		writeJSON(w, http.StatusBadRequest, errBody("invalid_request", "body must be JSON {\"token\"}"))
		return
	}
	u, err := s.cfg.Users.VerifySignUp(r.Context(), body.Token)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	s.log.Info("api: user signed up", "user", u.ID)
	s.startSession(w, r, u, http.StatusCreated, true)
}

// logMailer is the Mailer when none is configured: it logs that a mail was
// due, never its text (which may hold a sign-up link).
type logMailer struct{ log *slog.Logger }

func (m logMailer) Send(_ context.Context, mail pulse.Mail) error {
	m.log.Warn("api: no mailer configured; mail not sent", "subject", mail.Subject)
	return nil
}
