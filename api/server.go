// Package api serves Pulse's GraphQL API (gqlgen), the REST routes that
// sign-up, sign-in and OAuth linking need, health checks and the
// dashboard. Every query is scoped to the signed-in user.
//
// # Sessions
//
// Browsers authenticate with the session cookie set by POST /auth/verify
// (which completes a sign-up with the token mailed to its address; POST
// /auth/signup itself grants nothing and answers alike whether or not the
// address is registered) and POST /auth/login: HttpOnly, SameSite=Lax, Secure when served over TLS
// (or Config.SecureCookies), lasting Config.SessionTTL. API clients use
// short-lived bearer tokens (Config.BearerTTL, default 1 hour) in an
// "Authorization: Bearer" header: POST /auth/token issues one, and the
// verification and sign-in responses carry one too. A bearer token is a session
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
// Sign-in, /auth/token and account deletion are throttled per account, with
// a delay that doubles with each failure and binds only the networks that
// have failed on the account, and per client network (Config.LoginLimits),
// in PostgreSQL, so limits hold across replicas. A
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
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api/graph"
	"github.com/pulsehq/pulse/export"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "pulse_session"

// The stores the API uses, one interface per role. *postgres.DB implements
// them all; errors are *pulse.Error values, whose codes the API maps to
// HTTP statuses and GraphQL error codes.

// Users is the account store.
type Users interface {
	// RequestSignUp starts a sign-up, doing the same work (the password's
	// hash included) whether or not email is registered: EINVALID for a bad
	// address or weak password. For an unregistered address the result
	// carries the token that completes it.
	RequestSignUp(ctx context.Context, email, password string) (pulse.SignUp, error)
	// VerifySignUp completes the sign-up of token, creating the user:
	// ENOTFOUND for an unknown, used or expired token, ECONFLICT if the
	// address was registered meanwhile.
	VerifySignUp(ctx context.Context, token string) (pulse.User, error)
	// Authenticate checks a password: EUNAUTHORIZED, with the same
	// message, for an unknown address or a wrong password.
	Authenticate(ctx context.Context, email, password string) (pulse.User, error)
	// DeleteUser deletes the user and everything they own, and queues the
	// purge of their analytics rows in the same transaction, returning it.
	DeleteUser(ctx context.Context, userID string) (pulse.PurgeRequest, error)
}

// Sessions is the session store.
type Sessions interface {
	// CreateSession starts a session lasting ttl and returns its token.
	CreateSession(ctx context.Context, userID string, ttl time.Duration) (string, error)
	// Session returns the live session of token: EUNAUTHORIZED for an
	// unknown, malformed or expired one.
	Session(ctx context.Context, token string) (pulse.Session, error)
	// DeleteSession ends the session of token; unknown tokens are not an
	// error.
	DeleteSession(ctx context.Context, token string) error
	// DeleteUserSessions ends every session of userID and returns how
	// many there were.
	DeleteUserSessions(ctx context.Context, userID string) (int, error)
}

// LoginThrottle counts password checks per account and client network,
// and other attempts (sign-ups) per key, across API replicas.
type LoginThrottle interface {
	// AdmitLogin records an attempt, or refuses it with how long until one
	// would be admitted (retryAfter > 0): past the network's limit, or
	// within the account's delay if this network has failed on it.
	AdmitLogin(ctx context.Context, email, client string, lim pulse.LoginLimits) (a pulse.LoginAttempt, retryAfter time.Duration, err error)
	// LoginSucceeded forgets the failures of a's email address from a's
	// network.
	LoginSucceeded(ctx context.Context, a pulse.LoginAttempt) error
	// AdmitAttempt records an attempt under key, at most limit in any
	// window, or refuses it with how long until one would be admitted.
	AdmitAttempt(ctx context.Context, key string, limit int, window time.Duration) (retryAfter time.Duration, err error)
}

// OAuthStates keeps pending authorize requests.
type OAuthStates interface {
	// CreateOAuthState records a request bound to the session sessionID
	// and returns its state parameter.
	CreateOAuthState(ctx context.Context, sessionID string, platform topics.Platform, verifier string, ttl time.Duration) (string, error)
	// RedeemOAuthState redeems a state once, for the session that started
	// it: ENOTFOUND for an unknown, used or malformed one, EUNAUTHORIZED
	// (leaving it redeemable) for another session's. It returns expired
	// requests too.
	RedeemOAuthState(ctx context.Context, state, sessionID string) (pulse.OAuthState, error)
}

// Links is the store of linked accounts: what the resolvers read and
// change, and where the OAuth callback stores a new link.
type Links interface {
	graph.Links
	UpsertLink(ctx context.Context, userID string, platform topics.Platform, accountID, handle string, tok *oauth2.Token, scopes string) (pulse.Link, error)
	// CreateLinkGrant keeps a consent covering several accounts, its token
	// encrypted, for the user to choose which to link within ttl.
	CreateLinkGrant(ctx context.Context, userID string, platform topics.Platform, accounts []pulse.GrantAccount, tok *oauth2.Token, scopes string, ttl time.Duration) (pulse.LinkGrant, error)
}

// Mailer sends mail to users: sign-up verification links and notices.
// Send must not log the mail's Text, which may hold a sign-up link.
type Mailer interface {
	Send(ctx context.Context, m pulse.Mail) error
}

// Purges is the queue of deleted users' analytics purges, where the API
// reports the purge it attempts right after a deletion.
type Purges interface {
	PurgeDone(ctx context.Context, userID string) error
	PurgeFailed(ctx context.Context, userID, reason string) error
}

// Config configures a Server.
type Config struct {
	// Users, Sessions, Throttle, OAuthStates, Links and Purges are the
	// stores (one *postgres.DB serves them all). Required.
	Users       Users
	Sessions    Sessions
	Throttle    LoginThrottle
	OAuthStates OAuthStates
	Links       Links
	Purges      Purges
	// Metrics is the analytics store. Required.
	Metrics graph.Metrics
	// AnswerCache configures the cache of Metrics' answers in front of
	// it (Server.Answers), which serves cached answers only while it is
	// told of every change (kafka.Changes). Zero fields take the
	// defaults of AnswerCacheConfig; a negative MaxBytes turns it off.
	AnswerCache AnswerCacheConfig
	// Purger deletes a deleted user's analytics rows. Default: Metrics, if
	// it implements pulse.AnalyticsPurger. Without one, deletions leave a
	// purge request in Purges for the refresher.
	Purger pulse.AnalyticsPurger
	// Connectors are the platforms users can link. Optional: without a
	// connector a platform is listed but not linkable.
	Connectors map[topics.Platform]platforms.Connector
	// SessionTTL is how long a cookie session lasts. Default 7 days.
	SessionTTL time.Duration
	// BearerTTL is how long a bearer token lasts. Default 1 hour.
	BearerTTL time.Duration
	// SessionCheckInterval is how often a subscription re-checks its
	// session, ending when the session has (sign-out, deletion, expiry).
	// Default 30 seconds.
	SessionCheckInterval time.Duration
	// LinkTTL is how long an authorize request may take, from start to
	// callback. Default 10 minutes.
	LinkTTL time.Duration
	// LoginLimits throttle password checks. Default
	// pulse.DefaultLoginLimits.
	LoginLimits pulse.LoginLimits
	// TrustedProxies are the reverse proxies (CIDRs) whose X-Forwarded-For
	// entries are believed: the client is the entry left of the last
	// trusted hop. Default none: the client is the peer address.
	TrustedProxies []netip.Prefix
	// TrustForwardedFor takes the client address from the last
	// X-Forwarded-For entry whatever the peer: set it only behind a reverse
	// proxy that sets the header, or clients choose their own throttle
	// key. Prefer TrustedProxies.
	TrustForwardedFor bool
	// Mailer sends the sign-up mails. Default: a mailer that only logs
	// that a mail was due (never its text), so sign-ups cannot complete.
	Mailer Mailer
	// PublicURL is the base URL of the links in mails (the dashboard's
	// #/verify and #/signin routes). Default "http://127.0.0.1:8080".
	PublicURL string
	// SignUpLimits throttle sign-ups. Default DefaultSignUpLimits.
	SignUpLimits SignUpLimits
	// SecureCookies marks cookies Secure even when the request did not
	// arrive over TLS (TLS terminated by a proxy). Default false.
	SecureCookies bool
	// Export streams downloads (GET /api/v1/export). Default: Metrics, if
	// it implements export.Source; without one the route answers 501.
	Export export.Source
	// Now serves the summary query and subscription (the aggregator's
	// view). Optional: without it they fail with UNAVAILABLE.
	Now graph.Now
	// Capacity serves the capacityPlan query to Operators (emails).
	// Optional: without it the query fails with UNAVAILABLE.
	Capacity  graph.Capacity
	Operators []string
	// Web serves the dashboard at /. Optional.
	Web http.Handler
	// Extra routes mounted as they are (e.g. the simulator in dev).
	Extra map[string]http.Handler
	// Limits bound request sizes, timeouts, subscriptions and query cost.
	// Zero fields take DefaultLimits.
	Limits Limits
	// PersistedQueries, when not nil, is the allow-list of GraphQL
	// documents: only these run, sent in full or by their QueryHash as
	// extensions.persistedQuery.sha256Hash. Default nil: any query within
	// Limits.
	PersistedQueries []string
	// Introspection enables GraphQL introspection. Default off.
	Introspection bool
	// Playground serves the GraphQL playground at /playground. Default off.
	Playground bool
	// HSTS sends Strict-Transport-Security on every response: set it when
	// Pulse is served over https. Default off.
	HSTS bool
	// Clock defaults to time.Now. It decides when authorize requests expire.
	Clock func() time.Time
	// Logger defaults to slog.Default(). Nothing secret is logged: no
	// password, session token, OAuth token, code, state or verifier.
	Logger *slog.Logger
}

// Server is the HTTP API. It implements graph.Actions for the resolvers.
type Server struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	resolver *graph.Resolver
	answers  *AnswerCache // nil when turned off
}

var _ graph.Actions = (*Server)(nil)

// New validates cfg and builds a Server.
func New(cfg Config) (*Server, error) {
	var missing []string
	for name, set := range map[string]bool{
		"Users": cfg.Users != nil, "Sessions": cfg.Sessions != nil, "Throttle": cfg.Throttle != nil,
		"OAuthStates": cfg.OAuthStates != nil, "Links": cfg.Links != nil, "Purges": cfg.Purges != nil,
		"Metrics": cfg.Metrics != nil,
	} {
		if !set {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("api: %s required", strings.Join(missing, ", "))
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 7 * 24 * time.Hour
	}
	if cfg.BearerTTL <= 0 {
		cfg.BearerTTL = time.Hour
	}
	if cfg.SessionCheckInterval <= 0 {
		cfg.SessionCheckInterval = 30 * time.Second
	}
	if cfg.LinkTTL <= 0 {
		cfg.LinkTTL = 10 * time.Minute
	}
	if cfg.LoginLimits == (pulse.LoginLimits{}) {
		cfg.LoginLimits = pulse.DefaultLoginLimits
	}
	if err := cfg.LoginLimits.Validate(); err != nil {
		return nil, fmt.Errorf("api: LoginLimits: %w", err)
	}
	switch l := cfg.SignUpLimits; {
	case l == (SignUpLimits{}):
		cfg.SignUpLimits = DefaultSignUpLimits
	case l.Window <= 0 || l.PerNetwork < 1 || l.Global < l.PerNetwork:
		return nil, fmt.Errorf("api: SignUpLimits %+v: need a positive window and limits, Global at least PerNetwork", l)
	}
	lim, err := cfg.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg.Limits = lim
	if cfg.Purger == nil {
		cfg.Purger, _ = cfg.Metrics.(pulse.AnalyticsPurger)
	}
	if cfg.Export == nil {
		cfg.Export, _ = cfg.Metrics.(export.Source)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Mailer == nil {
		cfg.Mailer = logMailer{cfg.Logger}
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://127.0.0.1:8080"
	}
	if u, err := url.Parse(cfg.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("api: PublicURL %q: need an absolute http(s) URL", cfg.PublicURL)
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	for p, c := range cfg.Connectors {
		if c == nil || c.Platform() != p {
			return nil, fmt.Errorf("api: connector for %q is nil or serves another platform", p)
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	analytics := cfg.Metrics
	if cfg.AnswerCache.MaxBytes >= 0 {
		s.answers = NewAnswerCache(cfg.Metrics, cfg.AnswerCache)
		analytics = s.answers
	}

	operators := map[string]bool{}
	for _, e := range cfg.Operators {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
			operators[e] = true
		}
	}
	s.resolver = &graph.Resolver{
		LinkStore: cfg.Links, Analytics: analytics, Actions: s, Now: cfg.Now,
		Capacity: cfg.Capacity, Operators: operators,
		MaxSubscriptionsPerUser: lim.MaxSubscriptionsPerUser, SessionCheckInterval: cfg.SessionCheckInterval,
	}
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: s.resolver, Complexity: graph.Complexity()})
	initOperations(schema.Schema())
	gql := handler.New(schema)
	// Subscriptions: WebSocket (graphql-ws and graphql-transport-ws; the
	// upgrade is refused for another origin) and SSE (a POST accepting
	// text/event-stream, so it goes through the same CSRF check).
	gql.AddTransport(transport.Websocket{
		InitFunc:              s.wsInit,
		InitTimeout:           lim.WebSocketInitTimeout,
		KeepAlivePingInterval: lim.KeepAlive,
		PingPongInterval:      lim.KeepAlive,
	})
	gql.AddTransport(transport.SSE{KeepAlivePingInterval: lim.KeepAlive})
	gql.AddTransport(transport.POST{})
	gql.AddTransport(transport.GET{})
	gql.SetParserTokenLimit(lim.MaxTokens)
	if cfg.PersistedQueries != nil {
		allowed := persistedQueries{}
		for _, q := range cfg.PersistedQueries {
			allowed[QueryHash(q)] = q
		}
		gql.Use(allowed)
	}
	if cfg.Introspection {
		gql.Use(extension.Introspection{})
	} else {
		gql.Use(noIntrospection{})
	}
	// Cheapest first: the field count stops before the complexity walk
	// would expand fragments.
	gql.Use(fieldLimit{max: lim.MaxFields})
	gql.Use(extension.FixedComplexityLimit(lim.MaxComplexity))
	gql.AroundOperations(boundOperation(lim.MaxConcurrentFields))
	gql.AroundRootFields(boundRootField)
	gql.SetErrorPresenter(graph.PresentError(s.log))
	gql.SetRecoverFunc(graph.Recover(s.log))
	gql.AroundRootFields(observeRootField)

	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	if cfg.Playground {
		s.mux.Handle("GET /playground", playground.Handler("Pulse GraphQL", "/graphql"))
	}
	s.mux.Handle("/graphql", s.csrf(gql))
	s.mux.HandleFunc("POST /auth/signup", s.signUp)
	s.mux.HandleFunc("POST /auth/verify", s.verifySignUp)
	s.mux.HandleFunc("POST /auth/login", s.signIn)
	s.mux.HandleFunc("POST /auth/token", s.issueToken)
	s.mux.HandleFunc("POST /auth/logout", s.signOut)
	s.mux.HandleFunc("POST /auth/logout-all", s.signOutEverywhere)
	s.mux.HandleFunc("GET /api/v1/export", s.exportData)
	s.mux.HandleFunc("POST /api/v1/refresh", s.startRefresh)
	s.mux.HandleFunc("GET /api/v1/refresh", s.refreshNotAllowed)
	s.mux.HandleFunc("GET /api/v1/refresh/{rest...}", s.refreshNotAllowed)
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

// Answers is the cache of analytics answers, nil when
// Config.AnswerCache turned it off. It serves cached answers only once a
// feed of the changes (kafka.Changes) tells it Following.
func (s *Server) Answers() *AnswerCache { return s.answers }

// Handler returns the root handler: routes behind the request limits, the
// session middleware and the request metrics. Serve it with HTTPServer for
// the timeouts.
func (s *Server) Handler() http.Handler { return s.guard(s.authenticate(instrument(s.mux))) }

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

func (s *Server) writeStoreError(w http.ResponseWriter, err error) {
	code := pulse.ErrorCode(err)
	status := map[string]int{
		pulse.ENOTFOUND: http.StatusNotFound, pulse.ECONFLICT: http.StatusConflict,
		pulse.EINVALID: http.StatusBadRequest, pulse.EUNAUTHORIZED: http.StatusUnauthorized,
		pulse.ETHROTTLED: http.StatusTooManyRequests,
	}[code]
	if status == 0 {
		status = http.StatusInternalServerError
		s.log.Error("api: store error", "err", err)
	}
	writeJSON(w, status, errBody(code, pulse.ErrorMessage(err)))
}

func errBody(code, msg string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": msg}}
}

// writeJSON answers with v as JSON, never cached nor sniffed.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
