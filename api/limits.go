package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Limits bound what one request may cost. The zero value of each field
// means its default.
type Limits struct {
	// MaxBodyBytes caps a request body; a larger one is refused with 413
	// before it is read. Default 64 KiB.
	MaxBodyBytes int64
	// ReadTimeout bounds reading a request, headers and body. Streams (SSE
	// and WebSocket) are exempt once their request is read. Default 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response that is not a stream. Default
	// 60s.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Default 2
	// minutes.
	IdleTimeout time.Duration
	// WebSocketInitTimeout closes a WebSocket whose connection_init has not
	// arrived in time. Default 10s.
	WebSocketInitTimeout time.Duration
	// KeepAlive is the interval of WebSocket pings (graphql-transport-ws:
	// a peer that does not answer two is dropped) and keep-alive messages
	// (graphql-ws, SSE). Default 15s.
	KeepAlive time.Duration
	// MaxSubscriptionsPerUser caps one user's concurrent subscriptions on
	// one API process. Default 10.
	MaxSubscriptionsPerUser int
	// MaxTokens caps the lexical tokens of a GraphQL document; the parser
	// stops there. Default 3000.
	MaxTokens int
	// MaxFields caps the fields an operation selects, counting every alias
	// and every field of every fragment where it is spread. Default 300.
	MaxFields int
	// MaxComplexity caps an operation's cost (graph.Complexity: fields ×
	// list sizes, metrics weighted by range and grain). Default 16000:
	// one hourly series of every point field over the longest range
	// allowed (31 days) fits, two do not.
	MaxComplexity int
	// MaxConcurrentFields caps the root fields of one query resolved at
	// once (each may be a database query). Default 4.
	MaxConcurrentFields int
}

// DefaultLimits are the limits used for zero fields of Config.Limits.
var DefaultLimits = Limits{
	MaxBodyBytes:            64 << 10,
	ReadTimeout:             30 * time.Second,
	WriteTimeout:            60 * time.Second,
	IdleTimeout:             2 * time.Minute,
	WebSocketInitTimeout:    10 * time.Second,
	KeepAlive:               15 * time.Second,
	MaxSubscriptionsPerUser: 10,
	MaxTokens:               3000,
	MaxFields:               300,
	MaxComplexity:           16000,
	MaxConcurrentFields:     4,
}

// withDefaults fills zero fields from DefaultLimits and rejects negative
// ones.
func (l Limits) withDefaults() (Limits, error) {
	d := DefaultLimits
	for _, f := range []struct {
		name string
		v    *int64
		def  int64
	}{
		{"MaxBodyBytes", &l.MaxBodyBytes, d.MaxBodyBytes},
		{"ReadTimeout", (*int64)(&l.ReadTimeout), int64(d.ReadTimeout)},
		{"WriteTimeout", (*int64)(&l.WriteTimeout), int64(d.WriteTimeout)},
		{"IdleTimeout", (*int64)(&l.IdleTimeout), int64(d.IdleTimeout)},
		{"WebSocketInitTimeout", (*int64)(&l.WebSocketInitTimeout), int64(d.WebSocketInitTimeout)},
		{"KeepAlive", (*int64)(&l.KeepAlive), int64(d.KeepAlive)},
	} {
		if *f.v < 0 {
			return l, fmt.Errorf("api: Limits.%s is negative", f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		name    string
		v       *int
		def     int
		minimum int
	}{
		{"MaxSubscriptionsPerUser", &l.MaxSubscriptionsPerUser, d.MaxSubscriptionsPerUser, 1},
		{"MaxTokens", &l.MaxTokens, d.MaxTokens, 100},
		{"MaxFields", &l.MaxFields, d.MaxFields, 10},
		{"MaxComplexity", &l.MaxComplexity, d.MaxComplexity, 100},
		{"MaxConcurrentFields", &l.MaxConcurrentFields, d.MaxConcurrentFields, 1},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < f.minimum {
			return l, fmt.Errorf("api: Limits.%s %d is below %d", f.name, *f.v, f.minimum)
		}
	}
	return l, nil
}

// HTTPServer returns an http.Server for the API's handler with the
// timeouts of Config.Limits: ReadHeaderTimeout 10s, ReadTimeout and
// IdleTimeout as configured, and no server-wide WriteTimeout (the handler
// sets a write deadline on every response that is not a stream). Set its
// Addr, or pass it a listener.
func (s *Server) HTTPServer() *http.Server {
	l := s.cfg.Limits
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: min(10*time.Second, l.ReadTimeout),
		ReadTimeout:       l.ReadTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

// isStream reports whether r asks for a long-lived response: a WebSocket
// upgrade or server-sent events.
func isStream(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// guard applies the request limits and the response headers every route
// shares: it reads the body (refusing one over MaxBodyBytes with 413),
// sets a write deadline on responses that are not streams, and adds nosniff (every response),
// HSTS (Config.HSTS) and no-store (API routes).
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if s.cfg.HSTS {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if p := r.URL.Path; p == "/graphql" || strings.HasPrefix(p, "/auth/") || strings.HasPrefix(p, "/oauth/") {
			h.Set("Cache-Control", "no-store")
		}
		if !s.readBody(w, r) {
			return
		}
		// A stream (SSE, WebSocket) gets no write deadline: pings keep it
		// alive. Its read deadline needs nothing: net/http lifts it once
		// the request is read, and on hijack. An error means a writer
		// without deadlines (tests' recorders).
		if !isStream(r) {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.cfg.Limits.WriteTimeout))
		}
		next.ServeHTTP(w, r)
	})
}

// readBody reads r's body into memory, at most MaxBodyBytes of it, or
// answers 413 (or 400 when reading fails) and returns false. A declared
// Content-Length over the cap is refused before anything is read.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) bool {
	limit := s.cfg.Limits.MaxBodyBytes
	if r.ContentLength > limit {
		s.tooLarge(w)
		return false
	}
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		w.Header().Set("Connection", "close")
		writeJSON(w, http.StatusBadRequest, errBody("invalid_request", "could not read the request body"))
		return false
	}
	if int64(len(body)) > limit {
		s.tooLarge(w)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

// tooLarge answers 413 and closes the connection, so the rest of the body
// is never read.
func (s *Server) tooLarge(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	writeJSON(w, http.StatusRequestEntityTooLarge, errBody("too_large",
		fmt.Sprintf("the request body is larger than %d bytes", s.cfg.Limits.MaxBodyBytes)))
}

// Error codes of refused GraphQL operations, in extensions.code (the
// complexity limit uses gqlgen's COMPLEXITY_LIMIT_EXCEEDED and the token
// limit GRAPHQL_PARSE_FAILED).
const (
	CodeTooManyFields         = "TOO_MANY_FIELDS"
	CodeIntrospectionOff      = "INTROSPECTION_DISABLED"
	CodeQueryNotAllowed       = "PERSISTED_QUERY_NOT_ALLOWED"
	CodePersistedQueryUnknown = "PERSISTED_QUERY_NOT_FOUND"
)

// fieldLimit refuses operations selecting more than max fields, counting
// aliases and fragment spreads where they are used. Counting stops at the
// limit, so a fragment bomb costs no more than max steps.
type fieldLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = fieldLimit{}

func (fieldLimit) ExtensionName() string                   { return "FieldLimit" }
func (fieldLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (f fieldLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	budget := f.max
	if !countFields(oc.Operation.SelectionSet, &budget) {
		err := gqlerror.Errorf("operation selects more than %d fields (aliases and fragments count)", f.max)
		err.Extensions = map[string]any{"code": CodeTooManyFields}
		return err
	}
	return nil
}

// countFields spends one unit of budget per field and fragment spread in
// set, recursively, and reports false as soon as it runs out.
func countFields(set ast.SelectionSet, budget *int) bool {
	for _, sel := range set {
		if *budget--; *budget < 0 {
			return false
		}
		var sub ast.SelectionSet
		switch s := sel.(type) {
		case *ast.Field:
			sub = s.SelectionSet
		case *ast.InlineFragment:
			sub = s.SelectionSet
		case *ast.FragmentSpread:
			if s.Definition != nil {
				sub = s.Definition.SelectionSet
			}
		}
		if !countFields(sub, budget) {
			return false
		}
	}
	return true
}

// noIntrospection refuses operations asking for __schema or __type
// (__typename stays allowed), before anything runs.
type noIntrospection struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = noIntrospection{}

func (noIntrospection) ExtensionName() string                   { return "NoIntrospection" }
func (noIntrospection) Validate(graphql.ExecutableSchema) error { return nil }

func (noIntrospection) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation != nil && introspects(oc.Operation.SelectionSet, 0) {
		err := gqlerror.Errorf("introspection is disabled on this server")
		err.Extensions = map[string]any{"code": CodeIntrospectionOff}
		return err
	}
	return nil
}

// introspects reports whether a root selection set selects __schema or
// __type, looking through fragments (depth-bounded).
func introspects(set ast.SelectionSet, depth int) bool {
	if depth > 8 {
		return false
	}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if introspects(s.SelectionSet, depth+1) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && introspects(s.Definition.SelectionSet, depth+1) {
				return true
			}
		}
	}
	return false
}

// semKey keys the per-operation semaphore bounding root fields.
type semKey struct{}

// boundOperation gives each query and mutation a semaphore of n slots.
func boundOperation(n int) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if oc := graphql.GetOperationContext(ctx); oc.Operation != nil && oc.Operation.Operation != ast.Subscription {
			ctx = context.WithValue(ctx, semKey{}, make(chan struct{}, n))
		}
		return next(ctx)
	}
}

// boundRootField resolves a root field once its operation's semaphore has
// a free slot.
func boundRootField(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	sem, _ := ctx.Value(semKey{}).(chan struct{})
	if sem == nil {
		return next(ctx)
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		graphql.AddError(ctx, ctx.Err())
		return graphql.Null
	}
	defer func() { <-sem }()
	return next(ctx)
}

// persistedQueries admits only the documents of an allow-list: a request
// sends either the document (whose SHA-256 must be listed) or, as
// Apollo's automatic persisted queries do, only
// extensions.persistedQuery.sha256Hash.
type persistedQueries map[string]string

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = persistedQueries{}

func (persistedQueries) ExtensionName() string                   { return "PersistedQueryAllowList" }
func (persistedQueries) Validate(graphql.ExecutableSchema) error { return nil }

func (p persistedQueries) MutateOperationParameters(_ context.Context, rp *graphql.RawParams) *gqlerror.Error {
	if rp.Query == "" {
		ext, _ := rp.Extensions["persistedQuery"].(map[string]any)
		hash, _ := ext["sha256Hash"].(string)
		q, ok := p[strings.ToLower(hash)]
		if !ok {
			err := gqlerror.Errorf("unknown persisted query")
			err.Extensions = map[string]any{"code": CodePersistedQueryUnknown}
			return err
		}
		rp.Query = q
		return nil
	}
	if _, ok := p[QueryHash(rp.Query)]; !ok {
		err := gqlerror.Errorf("this server runs only its persisted queries")
		err.Extensions = map[string]any{"code": CodeQueryNotAllowed}
		return err
	}
	return nil
}

// QueryHash is the allow-list key of a GraphQL document: the lowercase
// hex SHA-256 of its exact text.
func QueryHash(query string) string {
	sum := sha256.Sum256([]byte(query))
	return hex.EncodeToString(sum[:])
}
