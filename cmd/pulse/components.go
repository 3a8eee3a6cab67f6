package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/lovoo/goka/web/monitor"

	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/platforms"
	_ "github.com/pulsehq/pulse/platforms/all"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/processors/aggregator"
	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/producers/fetcher"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/sinks/chsink"
	"github.com/pulsehq/pulse/topics"
)

// group runs components until the first fails or ctx ends, then cancels
// the rest and waits for all of them.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func newGroup(ctx context.Context) *group {
	g := &group{}
	g.ctx, g.cancel = context.WithCancel(ctx)
	return g
}

func (g *group) Go(name string, fn func(ctx context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		err := fn(g.ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			g.once.Do(func() { g.err = fmt.Errorf("%s: %w", name, err) })
		} else {
			slog.Debug("component stopped", "component", name)
		}
		g.cancel()
	}()
}

func (g *group) Wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}

func parsers(conns map[topics.Platform]platforms.Connector) map[topics.Platform]normalizer.Parser {
	out := make(map[topics.Platform]normalizer.Parser, len(conns))
	for p, c := range conns {
		out[p] = c
	}
	return out
}

// gokaOptions are the options of Pulse's goka processors: local table
// storage in stateDir (in memory when empty; tables are then recovered from
// Kafka at start) and goka's logs at debug level.
func gokaOptions(g *kafka.Goka, stateDir string) []goka.ProcessorOption {
	opts := g.ProcessorOptions()
	if stateDir != "" {
		opts = append(opts, goka.WithStorageBuilder(storage.DefaultBuilder(stateDir)))
	} else {
		opts = append(opts, goka.WithStorageBuilder(storage.MemoryBuilder()))
	}
	return append(opts, goka.WithLogger(gokaLogger{}))
}

func newNormalizer(g *kafka.Goka, conns map[topics.Platform]platforms.Connector, stateDir string) (*goka.Processor, error) {
	return normalizer.New(normalizer.Config{Brokers: g.Brokers, Parsers: parsers(conns), Options: gokaOptions(g, stateDir)})
}

func newAggregator(g *kafka.Goka, stateDir string) (*goka.Processor, error) {
	return aggregator.New(aggregator.Config{Brokers: g.Brokers, Options: gokaOptions(g, stateDir)})
}

// newAggregatesView builds the view of the aggregator's table the API
// serves "now" numbers from.
func newAggregatesView(g *kafka.Goka) (*aggregator.View, error) {
	opts, release := g.ViewOptions()
	return aggregator.NewView(g.Brokers, aggregator.ViewOptions{Options: opts, Release: release})
}

// gokaMonitor serves goka's web monitor (partitions, offsets, table state
// of each processor) under /debug/goka/.
func gokaMonitor(procs ...*goka.Processor) map[string]http.Handler {
	router := mux.NewRouter()
	mon := monitor.NewServer("/debug/goka", router)
	for _, p := range procs {
		mon.AttachProcessor(p)
	}
	return map[string]http.Handler{"/debug/goka/": router}
}

// runGoka runs a goka processor until ctx ends; a cancel is a clean stop.
func runGoka(p *goka.Processor) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
}

// gokaLogger sends goka's chatter to slog at debug level.
type gokaLogger struct{}

func (gokaLogger) Print(v ...any)   { slog.Debug(fmt.Sprint(v...), "component", "goka") }
func (gokaLogger) Println(v ...any) { slog.Debug(fmt.Sprint(v...), "component", "goka") }
func (gokaLogger) Printf(format string, v ...any) {
	slog.Debug(fmt.Sprintf(format, v...), "component", "goka")
}

type apiDeps struct {
	pg    *postgres.DB
	ch    *clickhouse.DB
	web   http.Handler // the dashboard at /; optional
	extra map[string]http.Handler
	// conns are the platforms users can link (OAuth routes).
	conns map[topics.Platform]platforms.Connector
	// secureCookies marks cookies Secure (Pulse served over https behind a
	// TLS-terminating proxy).
	secureCookies bool
	// now serves the summary query and subscription; optional.
	now *aggregator.View
}

// serveHTTP serves h on addr until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serveListener(ctx, ln, h)
}

func serveListener(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	}
}

func newAPI(d apiDeps) (http.Handler, error) {
	cfg := api.Config{Accounts: d.pg, Metrics: d.ch, Web: d.web, Extra: d.extra,
		Connectors: d.conns, SecureCookies: d.secureCookies}
	if d.now != nil {
		cfg.Now = d.now
	}
	srv, err := api.New(cfg)
	if err != nil {
		return nil, err
	}
	return srv.Handler(), nil
}

func newScheduler(brokers []string, pg *postgres.DB, interval time.Duration) (*scheduler.Scheduler, error) {
	return scheduler.New(scheduler.Config{Brokers: brokers, Links: pg, Interval: interval})
}

func newFetcher(brokers []string, pg *postgres.DB, conns map[topics.Platform]platforms.Connector) (*fetcher.Fetcher, error) {
	return fetcher.New(fetcher.Config{Brokers: brokers, Links: pg, Connectors: conns})
}

func newSink(brokers []string, ch *clickhouse.DB) (*chsink.Sink, error) {
	return chsink.New(chsink.Config{Brokers: brokers, Store: ch})
}
