package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/vektah/gqlparser/v2/ast"
)

// API metrics. The operation label is a GraphQL root field ("query
// metrics", "mutation refresh", "subscription summary": the schema bounds
// them) or the route pattern of any other request ("POST /auth/login");
// "other" for a path no route matches. Never a user or a raw path.
var (
	requestDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "pulse_api_request_duration_seconds",
		Help:    "Time to serve a request, by operation: a GraphQL root field or an HTTP route. A subscription's time is its set-up.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12), // 1 ms .. 24 s
	}, []string{"operation"})
	requestsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "pulse_api_requests_total",
		Help: "Requests by operation and code: the HTTP status for routes; ok or error for GraphQL root fields.",
	}, []string{"operation", "code"})
)

// initOperations exports every GraphQL root field's series at zero, so the
// families exist before the first request.
func initOperations(schema *ast.Schema) {
	for _, def := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
		if def == nil {
			continue
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			op := strings.ToLower(def.Name) + " " + f.Name
			requestDuration.WithLabelValues(op)
			requestsTotal.WithLabelValues(op, "ok")
		}
	}
}

// observeRootField times each GraphQL root field (gqlgen's
// AroundRootFields).
func observeRootField(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	start := time.Now()
	errsBefore := len(graphql.GetErrors(ctx))
	m := next(ctx)
	// RootFieldContext.Object holds the field's name, not its type: the
	// operation's type comes from the operation context.
	op := "graphql"
	if rf := graphql.GetRootFieldContext(ctx); rf != nil && rf.Field.Field != nil && graphql.HasOperationContext(ctx) {
		if oc := graphql.GetOperationContext(ctx); oc.Operation != nil {
			op = string(oc.Operation.Operation) + " " + rf.Field.Name
		}
	}
	code := "ok"
	if len(graphql.GetErrors(ctx)) > errsBefore {
		code = "error"
	}
	requestDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	requestsTotal.WithLabelValues(op, code).Inc()
	return m
}

// instrument times every request but GraphQL ones (those are timed per
// root field, and a WebSocket must reach gqlgen's transport unwrapped),
// labelled by the pattern next (a ServeMux) matched.
func instrument(next *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/graphql" {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		op := r.Pattern // set by the mux on r
		if op == "" {
			op = "other"
		}
		requestDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
		requestsTotal.WithLabelValues(op, strconv.Itoa(sw.code)).Inc()
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
