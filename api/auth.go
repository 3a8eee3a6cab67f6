package api

// Authentication: the session middleware and the /auth routes.
//
//	POST /auth/signup   mails a link that completes the sign-up
//	POST /auth/verify   completes it: creates the user, then signs in
//	POST /auth/login    signs in: a cookie session and a bearer token
//	POST /auth/token    a bearer token only, for API clients
//	POST /auth/logout   ends the session that authenticated it
//
// Password checks (sign-in, /auth/token and deleteAccount) go through
// Config.Throttle under Config.LoginLimits.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api/graph"
)

// requestInfo is what the middleware learns about a request.
type requestInfo struct {
	client string // throttle key of the client network
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(requestInfo)
	return ri
}

// authenticate resolves the session cookie or bearer token, if any, into
// the request context, together with the client's network. Requests
// without a valid session go on anonymous; resolvers that need a user fail
// with UNAUTHENTICATED.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), requestInfoKey{}, requestInfo{
			client: clientNetwork(r, s.cfg.TrustedProxies, s.cfg.TrustForwardedFor),
		})
		if tok, cookie := sessionToken(r); tok != "" {
			if sctx, err := s.withSession(ctx, tok, cookie); err == nil {
				ctx = sctx
			} else if pulse.ErrorCode(err) != pulse.EUNAUTHORIZED {
				s.log.Error("api: session lookup", "err", err)
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// withSession resolves the session token tok into ctx: the signed-in user,
// and the check subscriptions repeat to end when the session does.
func (s *Server) withSession(ctx context.Context, tok string, cookie bool) (context.Context, error) {
	sess, err := s.cfg.Sessions.Session(ctx, tok)
	if err != nil {
		return ctx, err
	}
	ctx = graph.WithUser(ctx, graph.SessionUser{
		ID: sess.User.ID, Email: sess.User.Email, CreatedAt: sess.User.CreatedAt,
		SessionID: sess.ID, Cookie: cookie,
	})
	return graph.WithSessionCheck(ctx, func(ctx context.Context) (bool, error) {
		_, err := s.cfg.Sessions.Session(ctx, tok)
		switch code := pulse.ErrorCode(err); {
		case err == nil:
			return true, nil
		case code == pulse.EUNAUTHORIZED || code == pulse.ENOTFOUND:
			return false, nil
		default:
			return true, err
		}
	}), nil
}

// wsInit authenticates a WebSocket by the token in connection_init's
// payload (graphql-ws clients' connectionParams), checked like a bearer
// token: {"Authorization": "Bearer <token>"} (any case), or {"token":
// "<token>"}. Without one, the upgrade request's own credentials (cookie,
// header) stay in force; with an invalid one the connection is anonymous
// and operations fail with UNAUTHENTICATED, as with an invalid header.
func (s *Server) wsInit(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	tok := ""
	for k, v := range p {
		str, _ := v.(string)
		switch {
		case strings.EqualFold(k, "authorization") && len(str) > 7 && strings.EqualFold(str[:7], "bearer "):
			tok = str[7:]
		case k == "token":
			tok = str
		}
	}
	if tok == "" {
		return ctx, nil, nil
	}
	sctx, err := s.withSession(ctx, tok, false)
	switch {
	case err == nil:
		return sctx, nil, nil
	case pulse.ErrorCode(err) == pulse.EUNAUTHORIZED:
		// Like an invalid bearer header: anonymous, so every operation
		// fails with UNAUTHENTICATED.
		return ctx, nil, nil
	default:
		s.log.Error("api: session lookup", "err", err)
		return ctx, nil, errors.New("sign-in could not be checked; try again")
	}
}

// sessionToken returns the request's bearer token, or else its session
// cookie, and whether it came from the cookie.
func sessionToken(r *http.Request) (token string, cookie bool) {
	if h := r.Header.Get("Authorization"); len(h) > 7 && h[:7] == "Bearer " {
		return h[7:], false
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value, true
	}
	return "", false
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// readCredentials decodes a same-origin JSON credentials body, or answers
// the request with an error and returns false.
func (s *Server) readCredentials(w http.ResponseWriter, r *http.Request) (credentials, bool) {
	var c credentials
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, errBody("forbidden", "cross-origin request refused"))
		return c, false
	}
	if !isJSON(r) {
		writeJSON(w, http.StatusUnsupportedMediaType, errBody("invalid_request", "Content-Type must be application/json"))
		return c, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<14)
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		writeJSON(w, http.StatusBadRequest, errBody("invalid_request", "body must be JSON {\"email\", \"password\"}"))
		return c, false
	}
	return c, true
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readCredentials(w, r)
	if !ok {
		return
	}
	if u, ok := s.checkPassword(w, r, c); ok {
		s.startSession(w, r, u, http.StatusOK, true)
	}
}

// issueToken serves POST /auth/token: a bearer token for API clients, no
// cookie.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readCredentials(w, r)
	if !ok {
		return
	}
	if u, ok := s.checkPassword(w, r, c); ok {
		s.startSession(w, r, u, http.StatusOK, false)
	}
}

// checkPassword authenticates c under the sign-in throttle, or answers the
// request with an error and returns false.
func (s *Server) checkPassword(w http.ResponseWriter, r *http.Request, c credentials) (pulse.User, bool) {
	ctx := r.Context()
	attempt, retry, err := s.cfg.Throttle.AdmitLogin(ctx, c.Email, infoFrom(ctx).client, s.cfg.LoginLimits)
	if err != nil {
		s.writeStoreError(w, err)
		return pulse.User{}, false
	}
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(retry)))
		writeJSON(w, http.StatusTooManyRequests, errBody("throttled", throttledMessage(retry)))
		return pulse.User{}, false
	}
	u, err := s.cfg.Users.Authenticate(ctx, c.Email, c.Password)
	if err != nil {
		s.writeStoreError(w, err)
		return pulse.User{}, false
	}
	if err := s.cfg.Throttle.LoginSucceeded(ctx, attempt); err != nil {
		// The attempt keeps counting until it expires; not worth failing
		// a correct sign-in for.
		s.log.Warn("api: clear sign-in failures", "user", u.ID, "err", err)
	}
	return u, true
}

func retrySeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

func throttledMessage(d time.Duration) string {
	switch m, s := int(math.Ceil(d.Minutes())), retrySeconds(d); {
	case m > 1:
		return fmt.Sprintf("too many sign-in attempts; try again in %d minutes", m)
	case s >= 60:
		return "too many sign-in attempts; try again in a minute"
	case s > 1:
		return fmt.Sprintf("too many sign-in attempts; try again in %d seconds", s)
	default:
		return "too many sign-in attempts; try again in a second"
	}
}

// startSession answers a successful sign-up or sign-in: with cookie set, a
// cookie session (SessionTTL) for the browser; always, a bearer token
// (BearerTTL) in the body for API clients.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u pulse.User, status int, cookie bool) {
	ctx := r.Context()
	bearer, err := s.cfg.Sessions.CreateSession(ctx, u.ID, s.cfg.BearerTTL)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	if cookie {
		tok, err := s.cfg.Sessions.CreateSession(ctx, u.ID, s.cfg.SessionTTL)
		if err != nil {
			s.writeStoreError(w, err)
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: SessionCookie, Value: tok, Path: "/", MaxAge: int(s.cfg.SessionTTL.Seconds()),
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r),
		})
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]any{
		"user":      map[string]string{"id": u.ID, "email": u.Email},
		"token":     bearer,
		"tokenType": "Bearer",
		"expiresAt": s.cfg.Clock().UTC().Add(s.cfg.BearerTTL).Truncate(time.Second),
	})
}

// secure reports whether cookies set on r's response must be Secure.
func (s *Server) secure(r *http.Request) bool { return s.cfg.SecureCookies || r.TLS != nil }

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, errBody("forbidden", "cross-origin request refused"))
		return
	}
	if tok, _ := sessionToken(r); tok != "" {
		if err := s.cfg.Sessions.DeleteSession(r.Context(), tok); err != nil && pulse.ErrorCode(err) != pulse.ENOTFOUND {
			s.writeStoreError(w, err)
			return
		}
	}
	s.clearCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
}

// signOutEverywhere serves POST /auth/logout-all: it ends every session
// of the signed-in user (every browser, every bearer token), answering
// {"sessions": n}. Their subscriptions end at their next session check.
func (s *Server) signOutEverywhere(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, errBody("forbidden", "cross-origin request refused"))
		return
	}
	u, ok := graph.UserFrom(r.Context())
	if !ok {
		writeJSON(w, http.StatusUnauthorized, errBody("unauthorized", "sign in required"))
		return
	}
	n, err := s.cfg.Sessions.DeleteUserSessions(r.Context(), u.ID)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	s.log.Info("api: signed out everywhere", "user", u.ID, "sessions", n)
	s.clearCookie(w, r)
	writeJSON(w, http.StatusOK, map[string]int{"sessions": n})
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r)})
}
