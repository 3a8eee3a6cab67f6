// Package api serves Pulse's GraphQL API (gqlgen), the REST routes that
// sign-up, sign-in and OAuth linking need, health checks and the
// dashboard. Every query is scoped to the signed-in user.
//
// # Sessions
//
// Browsers authenticate with the session cookie set by POST /auth/signup
// and POST /auth/login: HttpOnly, SameSite=Lax, Secure when served over TLS
// (or Config.SecureCookies), lasting Config.SessionTTL. API clients use
// short-lived bearer tokens (Config.BearerTTL, default 1 hour) in an
// "Authorization: Bearer" header: POST /auth/token issues one, and the
// sign-up and sign-in responses carry one too. A bearer token is a session
// of its own, so the cookie's token never reaches JavaScript. POST
// /auth/logout ends the session that authenticated it.
//
// CSRF: state-changing routes accept only JSON bodies (which a cross-site
// form cannot send without a CORS preflight, never granted) and refuse a
// foreign Origin. The OAuth callback is a GET by necessity; its state
// parameter is bound to the session that started the flow.
//
// # Sign-in throttling
//
// Sign-in, /auth/token and account deletion are throttled per email address
// and client network, and per client network (Config.LoginLimits), in a
// sliding window kept in PostgreSQL, so limits hold across replicas. A
// refused attempt gets 429 with Retry-After and the same message whether or
// not the account exists. The client network is the peer address (an IPv6
// client's /64), or the last X-Forwarded-For hop with
// Config.TrustForwardedFor behind a reverse proxy.
//
// # Linking
//
// GET /oauth/{platform}/start and the startLink mutation (Server.StartLink)
// begin the authorize flow; GET /oauth/{platform}/callback completes it.
// The state is single-use, bound to the starting session and expires after
// Config.LinkTTL; the PKCE verifier stays server-side, encrypted.
//
// # Account deletion
//
// The deleteAccount mutation (Server.DeleteAccount) re-checks the password,
// crypto-shreds and deletes the user in PostgreSQL and purges their
// analytics through Config.Purger, queueing the purge for the refresher if
// it fails.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/api/graph"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/topics"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "pulse_session"

// Accounts is the user, session and link store. *postgres.DB implements it.
type Accounts interface {
	graph.Accounts
	CreateUser(ctx context.Context, email, password string) (postgres.User, error)
	Authenticate(ctx context.Context, email, password string) (postgres.User, error)
	AdmitLogin(ctx context.Context, email, client string, lim postgres.LoginLimits) (postgres.LoginAttempt, time.Duration, error)
	LoginSucceeded(ctx context.Context, a postgres.LoginAttempt) error
	CreateSession(ctx context.Context, userID string, ttl time.Duration) (string, error)
	Session(ctx context.Context, token string) (postgres.Session, error)
	DeleteSession(ctx context.Context, token string) error
	CreateOAuthState(ctx context.Context, sessionID string, platform topics.Platform, verifier string, ttl time.Duration) (string, error)
	ConsumeOAuthState(ctx context.Context, state string) (postgres.OAuthState, error)
	UpsertLink(ctx context.Context, userID string, platform topics.Platform, accountID, handle string, tok *oauth2.Token, scopes string) (postgres.Link, error)
	DeleteUser(ctx context.Context, userID string) error
	PurgeDone(ctx context.Context, userID string) error
	PurgeFailed(ctx context.Context, userID, reason string) error
}

// AnalyticsPurger deletes a user's analytics rows. *clickhouse.DB
// implements it. DeleteUser must be idempotent and may complete
// asynchronously once accepted.
type AnalyticsPurger interface {
	DeleteUser(ctx context.Context, userID string) error
}

// Config configures a Server.
type Config struct {
	// Accounts is the user store. Required.
	Accounts Accounts
	// Metrics is the analytics store. Required.
	Metrics graph.Metrics
	// Purger deletes a deleted user's analytics rows. Default: Metrics, if
	// it implements AnalyticsPurger. Without one, deletions leave a purge
	// request in PostgreSQL for the refresher.
	Purger AnalyticsPurger
	// Connectors are the platforms users can link. Optional: without a
	// connector a platform is listed but not linkable.
	Connectors map[topics.Platform]platforms.Connector
	// SessionTTL is how long a cookie session lasts. Default 7 days.
	SessionTTL time.Duration
	// BearerTTL is how long a bearer token lasts. Default 1 hour.
	BearerTTL time.Duration
	// LinkTTL is how long an authorize request may take, from start to
	// callback. Default 10 minutes.
	LinkTTL time.Duration
	// LoginLimits throttle password checks. Default
	// postgres.DefaultLoginLimits.
	LoginLimits postgres.LoginLimits
	// TrustForwardedFor takes the client address from the last
	// X-Forwarded-For entry: set it only behind a reverse proxy that sets
	// the header, or clients choose their own throttle key.
	TrustForwardedFor bool
	// SecureCookies marks cookies Secure even when the request did not
	// arrive over TLS (TLS terminated by a proxy). Default false.
	SecureCookies bool
	// Now serves the summary query and subscription (the aggregator's
	// view). Optional: without it they fail with UNAVAILABLE.
	Now graph.Now
	// Web serves the dashboard at /. Optional.
	Web http.Handler
	// Extra routes mounted as they are (e.g. the simulator in dev).
	Extra map[string]http.Handler
	// Clock defaults to time.Now. It decides when authorize requests expire.
	Clock func() time.Time
	// Logger defaults to slog.Default(). Nothing secret is logged: no
	// password, session token, OAuth token, code, state or verifier.
	Logger *slog.Logger
}

// Server is the HTTP API. It implements graph.Actions for the resolvers.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

var _ graph.Actions = (*Server)(nil)

// New validates cfg and builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Accounts == nil || cfg.Metrics == nil {
		return nil, errors.New("api: Accounts and Metrics are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 7 * 24 * time.Hour
	}
	if cfg.BearerTTL <= 0 {
		cfg.BearerTTL = time.Hour
	}
	if cfg.LinkTTL <= 0 {
		cfg.LinkTTL = 10 * time.Minute
	}
	switch l := cfg.LoginLimits; {
	case l == (postgres.LoginLimits{}):
		cfg.LoginLimits = postgres.DefaultLoginLimits
	case l.Window <= 0 || l.PerAccount < 1 || l.PerClient < 1:
		return nil, fmt.Errorf("api: LoginLimits %+v: need a positive window and limits", l)
	}
	if cfg.Purger == nil {
		cfg.Purger, _ = cfg.Metrics.(AnalyticsPurger)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for p, c := range cfg.Connectors {
		if c == nil || c.Platform() != p {
			return nil, fmt.Errorf("api: connector for %q is nil or serves another platform", p)
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}

	gql := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: &graph.Resolver{
		Accounts: cfg.Accounts, Analytics: cfg.Metrics, Actions: s, Now: cfg.Now,
	}}))
	// Subscriptions: WebSocket (graphql-ws and graphql-transport-ws; the
	// upgrade is refused for another origin) and SSE (a POST accepting
	// text/event-stream, so it goes through the same CSRF check).
	gql.AddTransport(transport.Websocket{KeepAlivePingInterval: 15 * time.Second})
	gql.AddTransport(transport.SSE{KeepAlivePingInterval: 15 * time.Second})
	gql.AddTransport(transport.POST{})
	gql.AddTransport(transport.GET{})
	gql.Use(extension.Introspection{})
	gql.SetErrorPresenter(graph.PresentError(s.log))
	gql.SetRecoverFunc(graph.Recover(s.log))

	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.Handle("GET /playground", playground.Handler("Pulse GraphQL", "/graphql"))
	s.mux.Handle("/graphql", s.csrf(gql))
	s.mux.HandleFunc("POST /auth/signup", s.signUp)
	s.mux.HandleFunc("POST /auth/login", s.signIn)
	s.mux.HandleFunc("POST /auth/token", s.issueToken)
	s.mux.HandleFunc("POST /auth/logout", s.signOut)
	s.mux.HandleFunc("GET /oauth/{platform}/start", s.oauthStart)
	s.mux.HandleFunc("GET /oauth/{platform}/callback", s.oauthCallback)
	for pattern, h := range cfg.Extra {
		s.mux.Handle(pattern, h)
	}
	if cfg.Web != nil {
		s.mux.Handle("/", cfg.Web)
	}
	return s, nil
}

// Handler returns the root handler: routes behind the session middleware.
func (s *Server) Handler() http.Handler { return s.authenticate(s.mux) }

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
			client: clientNetwork(r, s.cfg.TrustForwardedFor),
		})
		if tok, cookie := sessionToken(r); tok != "" {
			sess, err := s.cfg.Accounts.Session(ctx, tok)
			if err == nil {
				ctx = graph.WithUser(ctx, graph.SessionUser{
					ID: sess.User.ID, Email: sess.User.Email, CreatedAt: sess.User.CreatedAt,
					SessionID: sess.ID, Cookie: cookie,
				})
			} else if postgres.ErrorCode(err) != postgres.Unauthorized {
				s.log.Error("api: session lookup", "err", err)
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
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

// csrf rejects cross-site state-changing requests authenticated by cookie:
// a GraphQL POST must be JSON (which browsers cannot send cross-site
// without a CORS preflight we never grant) and, when the browser sends an
// Origin, it must be ours. Mutations over GET are refused by gqlgen.
func (s *Server) csrf(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if !isJSON(r) {
				writeJSON(w, http.StatusUnsupportedMediaType, errBody("invalid_request", "Content-Type must be application/json"))
				return
			}
			if !sameOrigin(r) {
				writeJSON(w, http.StatusForbidden, errBody("forbidden", "cross-origin request refused"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" && r.Header.Get("Authorization") != "" {
		return true
	}
	return o == "http://"+r.Host || o == "https://"+r.Host
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

func (s *Server) signUp(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readCredentials(w, r)
	if !ok {
		return
	}
	u, err := s.cfg.Accounts.CreateUser(r.Context(), c.Email, c.Password)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	s.log.Info("api: user signed up", "user", u.ID)
	s.startSession(w, r, u, http.StatusCreated, true)
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
func (s *Server) checkPassword(w http.ResponseWriter, r *http.Request, c credentials) (postgres.User, bool) {
	ctx := r.Context()
	attempt, retry, err := s.cfg.Accounts.AdmitLogin(ctx, c.Email, infoFrom(ctx).client, s.cfg.LoginLimits)
	if err != nil {
		s.writeStoreError(w, err)
		return postgres.User{}, false
	}
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(retry)))
		writeJSON(w, http.StatusTooManyRequests, errBody("throttled", throttledMessage(retry)))
		return postgres.User{}, false
	}
	u, err := s.cfg.Accounts.Authenticate(ctx, c.Email, c.Password)
	if err != nil {
		s.writeStoreError(w, err)
		return postgres.User{}, false
	}
	if err := s.cfg.Accounts.LoginSucceeded(ctx, attempt); err != nil {
		// The attempt keeps counting until it expires; not worth failing
		// a correct sign-in for.
		s.log.Warn("api: clear sign-in failures", "user", u.ID, "err", err)
	}
	return u, true
}

func retrySeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

func throttledMessage(d time.Duration) string {
	if m := int(math.Ceil(d.Minutes())); m > 1 {
		return fmt.Sprintf("too many sign-in attempts; try again in %d minutes", m)
	}
	return "too many sign-in attempts; try again in a minute"
}

// startSession answers a successful sign-up or sign-in: with cookie set, a
// cookie session (SessionTTL) for the browser; always, a bearer token
// (BearerTTL) in the body for API clients.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u postgres.User, status int, cookie bool) {
	ctx := r.Context()
	bearer, err := s.cfg.Accounts.CreateSession(ctx, u.ID, s.cfg.BearerTTL)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	if cookie {
		tok, err := s.cfg.Accounts.CreateSession(ctx, u.ID, s.cfg.SessionTTL)
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
		if err := s.cfg.Accounts.DeleteSession(r.Context(), tok); err != nil && postgres.ErrorCode(err) != postgres.NotFound {
			s.writeStoreError(w, err)
			return
		}
	}
	s.clearCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r)})
}

func (s *Server) writeStoreError(w http.ResponseWriter, err error) {
	code := postgres.ErrorCode(err)
	status := map[string]int{
		postgres.NotFound: http.StatusNotFound, postgres.Conflict: http.StatusConflict,
		postgres.Invalid: http.StatusBadRequest, postgres.Unauthorized: http.StatusUnauthorized,
	}[code]
	if status == 0 {
		status = http.StatusInternalServerError
		s.log.Error("api: store error", "err", err)
	}
	writeJSON(w, status, errBody(code, postgres.ErrorMessage(err)))
}

func errBody(code, msg string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": msg}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
