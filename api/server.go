// Package api serves Pulse's GraphQL API (gqlgen), the few REST routes that
// sign-up, sign-in and OAuth need, health checks and the dashboard. Every
// query is scoped to the signed-in user, identified by a session cookie or a
// bearer token.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"

	"github.com/pulsehq/pulse/api/graph"
	"github.com/pulsehq/pulse/postgres"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "pulse_session"

// Accounts is the user, session and link store. *postgres.DB implements it.
type Accounts interface {
	graph.Accounts
	CreateUser(ctx context.Context, email, password string) (postgres.User, error)
	Authenticate(ctx context.Context, email, password string) (postgres.User, error)
	CreateSession(ctx context.Context, userID string, ttl time.Duration) (string, error)
	SessionUser(ctx context.Context, token string) (postgres.User, error)
	DeleteSession(ctx context.Context, token string) error
}

// Config configures a Server.
type Config struct {
	// Accounts is the user store. Required.
	Accounts Accounts
	// Metrics is the analytics store. Required.
	Metrics graph.Metrics
	// SessionTTL is how long a session lasts. Default 7 days.
	SessionTTL time.Duration
	// SecureCookies marks cookies Secure; set it when serving over TLS.
	// Default false (local development over http).
	SecureCookies bool
	// Web serves the dashboard at /. Optional.
	Web http.Handler
	// Extra routes mounted as they are (e.g. OAuth, the simulator in dev).
	Extra map[string]http.Handler
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// New validates cfg and builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Accounts == nil || cfg.Metrics == nil {
		return nil, errors.New("api: Accounts and Metrics are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 7 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}

	gql := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: &graph.Resolver{
		Accounts: cfg.Accounts, Analytics: cfg.Metrics,
	}}))
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
	s.mux.HandleFunc("POST /auth/logout", s.signOut)
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

// authenticate resolves the session cookie or bearer token, if any, into
// the request context. Requests without a valid session go on anonymous;
// resolvers that need a user fail with UNAUTHENTICATED.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := sessionToken(r); tok != "" {
			u, err := s.cfg.Accounts.SessionUser(r.Context(), tok)
			if err == nil {
				r = r.WithContext(graph.WithUser(r.Context(), graph.SessionUser{ID: u.ID, Email: u.Email, CreatedAt: u.CreatedAt}))
			} else if postgres.ErrorCode(err) != postgres.Unauthorized {
				s.log.Error("api: session lookup", "err", err)
			}
		}
		next.ServeHTTP(w, r)
	})
}

func sessionToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && h[:7] == "Bearer " {
		return h[7:]
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// csrf rejects cross-site state-changing requests authenticated by cookie:
// a GraphQL POST must be JSON (which browsers cannot send cross-site
// without a CORS preflight we never grant) and, when the browser sends an
// Origin, it must be ours. Mutations over GET are refused by gqlgen.
func (s *Server) csrf(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if ct := r.Header.Get("Content-Type"); len(ct) < 16 || ct[:16] != "application/json" {
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

func (s *Server) readCredentials(w http.ResponseWriter, r *http.Request) (credentials, bool) {
	var c credentials
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, errBody("forbidden", "cross-origin request refused"))
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
	s.startSession(w, r, u, http.StatusCreated)
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readCredentials(w, r)
	if !ok {
		return
	}
	u, err := s.cfg.Accounts.Authenticate(r.Context(), c.Email, c.Password)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	s.startSession(w, r, u, http.StatusOK)
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u postgres.User, status int) {
	tok, err := s.cfg.Accounts.CreateSession(r.Context(), u.ID, s.cfg.SessionTTL)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: tok, Path: "/", MaxAge: int(s.cfg.SessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.cfg.SecureCookies || r.TLS != nil,
	})
	// The token is returned once, for API clients that use bearer auth.
	writeJSON(w, status, map[string]any{"user": map[string]string{"id": u.ID, "email": u.Email}, "token": tok})
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, errBody("forbidden", "cross-origin request refused"))
		return
	}
	if tok := sessionToken(r); tok != "" {
		if err := s.cfg.Accounts.DeleteSession(r.Context(), tok); err != nil && postgres.ErrorCode(err) != postgres.NotFound {
			s.writeStoreError(w, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
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
