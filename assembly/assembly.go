// Package assembly builds Pulse's components from one Config. `pulse dev`,
// every standalone command and the end-to-end tests build their components
// here, so what the tests run is what ships.
//
// New validates the Config and opens what the chosen components need (the
// Kafka topics, PostgreSQL, ClickHouse, the connectors, the API's
// listener); Run runs the components until its context ends or one fails;
// Close releases what New opened. The New* methods build one fresh
// component each, for tests that stop and restart components one by one.
package assembly

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/lovoo/goka/web/monitor"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/mail"
	"github.com/pulsehq/pulse/metrics"
	"github.com/pulsehq/pulse/platforms"
	_ "github.com/pulsehq/pulse/platforms/all" // every connector registers itself
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/processors/aggregator"
	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/producers/fetcher"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/sinks/chsink"
	"github.com/pulsehq/pulse/topics"
	"github.com/pulsehq/pulse/upkeep"
	"github.com/pulsehq/pulse/web"
)

// Pulse is a set of components built from one Config, with the engines
// they share. Create it with New.
type Pulse struct {
	cfg Config

	broker  *kafka.Broker // embedded: under Dev without brokers, or the broker component
	brokers []string
	goka    *kafka.Goka
	pg      *postgres.DB
	ch      *clickhouse.DB
	ownPG   bool
	ownCH   bool
	ln      net.Listener
	conns   map[topics.Platform]platforms.Connector
	sim     *sim.Server     // under Dev, or the sim component
	simLn   net.Listener    // the sim component's
	monitor *monitor.Server // under Dev, or where processors run
	extra   map[string]http.Handler
	// deletions tells the processors about deleted users (api, refresher).
	deletions *kafka.Deletions

	obs         *observability
	adminLn     net.Listener
	gokaMonitor http.Handler // goka's monitor on the admin listener
}

// New validates cfg and opens what its components need. Under cfg.Dev it
// also starts the embedded broker and simulator and seeds the demo user.
// Close the result when done, even after Run returned.
func New(ctx context.Context, cfg Config) (_ *Pulse, err error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("assembly: %w", err)
	}
	p := &Pulse{cfg: cfg, brokers: cfg.Kafka.Brokers, extra: map[string]http.Handler{}}
	defer func() {
		if err != nil {
			p.Close()
			err = fmt.Errorf("assembly: %w", err)
		}
	}()
	n := p.cfg.needs()
	dev := p.cfg.Dev
	if dev != nil {
		if len(p.brokers) == 0 {
			p.broker, err = kafka.StartBroker(kafka.BrokerConfig{Port: dev.BrokerPort, DataDir: filepath.Join(dev.DataDir, "kafka")})
			if err != nil {
				return nil, err
			}
			p.brokers = p.broker.Addrs()[:1]
			p.cfg.Logger.Info("embedded broker started", "addr", p.brokers[0])
		}
		if p.cfg.Postgres.MasterKeys == "" && p.cfg.Postgres.MasterKeyFile == "" {
			if p.cfg.Postgres.MasterKeyFile, err = devMasterKeyFile(dev.DataDir); err != nil {
				return nil, err
			}
		}
		if p.cfg.Processors.StateDir == "" {
			p.cfg.Processors.StateDir = filepath.Join(dev.DataDir, "goka")
		}
	}
	if slices.Contains(p.cfg.Components, Broker) {
		port, _ := p.cfg.Broker.brokerPort() // validated
		if p.broker, err = kafka.StartBroker(kafka.BrokerConfig{Port: port, DataDir: p.cfg.Broker.DataDir}); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
		p.cfg.Logger.Info("broker listening", "addrs", p.broker.Addrs(), "data_dir", p.cfg.Broker.DataDir)
		if len(p.brokers) == 0 {
			p.brokers = p.broker.Addrs()
		}
	}
	if slices.Contains(p.cfg.Components, Sim) {
		c := p.cfg.Sim
		if p.sim, err = sim.New(sim.Config{Seed: c.Seed, Accounts: c.Accounts}); err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		if p.simLn, err = net.Listen("tcp", c.Listen); err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		p.cfg.Logger.Info("simulator listening", "addr", p.simLn.Addr().String(), "platforms", p.sim.Platforms())
	}
	if n.kafka {
		specs := kafka.PulseTopics()
		for i := range specs {
			specs[i].Partitions = int32(p.cfg.Kafka.Partitions)
		}
		if n.http {
			// The API's aggregates view reads the aggregator's table: create
			// it as goka would, so the API starts before the aggregator
			// ever ran.
			specs = append(specs, kafka.TopicSpec{Name: string(aggregator.Table), Compacted: true, Partitions: int32(p.cfg.Kafka.Partitions)})
		}
		repl, err := kafka.EnsureTopics(ctx, p.brokers, p.cfg.Kafka.Replication, specs...)
		if err != nil {
			return nil, err
		}
		p.goka = kafka.NewGoka(p.brokers, repl)
		p.goka.SetGroupInstanceID(p.cfg.Kafka.GroupInstanceID)
		if n.http || slices.Contains(p.cfg.Components, Refresher) {
			if p.deletions, err = kafka.NewDeletions(p.brokers); err != nil {
				return nil, err
			}
		}
	}
	if n.pg {
		if p.pg = p.cfg.Postgres.DB; p.pg == nil {
			if p.pg, err = OpenPostgres(ctx, p.cfg.Postgres, n.keys); err != nil {
				return nil, err
			}
			p.ownPG = true
		}
	}
	if n.ch {
		if p.ch = p.cfg.ClickHouse.DB; p.ch == nil {
			if p.ch, err = OpenClickHouse(ctx, p.cfg.ClickHouse.URL); err != nil {
				return nil, err
			}
			p.ownCH = true
		}
	}
	if n.http {
		if p.ln = p.cfg.HTTP.Listener; p.ln == nil {
			if p.ln, err = net.Listen("tcp", p.cfg.HTTP.Addr); err != nil {
				return nil, fmt.Errorf("api: %w", err)
			}
		}
	}
	if dev != nil {
		base := "http://" + p.ln.Addr().String()
		p.cfg.Platforms.PublicURL = base
		p.cfg.Platforms.SimURL = base + "/sim"
		// The simulator makes as many accounts as the demo user links
		// (sim.DefaultAccounts when fewer are asked for).
		if p.sim, err = sim.New(sim.Config{Seed: dev.Seed, Accounts: max(sim.DefaultAccounts, dev.DemoAccounts)}); err != nil {
			return nil, err
		}
		p.extra["/sim/"] = http.StripPrefix("/sim", p.sim.Handler())
		router := mux.NewRouter()
		p.monitor = monitor.NewServer("/debug/goka", router)
		p.extra["/debug/goka/"] = router
		p.gokaMonitor = router
	}
	if n.conns {
		if p.conns, err = p.connectors(); err != nil {
			return nil, err
		}
	}
	if err := p.openAdmin(ctx); err != nil {
		return nil, err
	}
	if dev != nil && dev.DemoAccounts > 0 {
		if err := p.seedDemo(ctx, p.pg, p.sim, dev.DemoAccounts); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// connectors builds every registered connector.
func (p *Pulse) connectors() (map[topics.Platform]platforms.Connector, error) {
	pc := p.cfg.Platforms
	out := map[topics.Platform]platforms.Connector{}
	for _, pl := range platforms.Registered() {
		app := pc.Apps[pl]
		if app.ClientID == "" || app.ClientSecret == "" {
			// Only with the simulator: validate refuses it otherwise.
			app.ClientID, app.ClientSecret = "pulse-dev", "pulse-dev-secret"
		}
		cfg := platforms.Config{
			ClientID:     app.ClientID,
			ClientSecret: app.ClientSecret,
			RedirectURL:  strings.TrimSuffix(pc.PublicURL, "/") + "/oauth/" + string(pl) + "/callback",
			MaxPostPages: pc.MaxPostPages,
			BaseURL:      app.BaseURL,
		}
		if pc.SimURL != "" {
			cfg.BaseURL = sim.BaseURL(pc.SimURL, pl)
			cfg.AuthBaseURL = cfg.BaseURL
			if pc.SimPublicURL != "" {
				cfg.AuthBaseURL = sim.BaseURL(pc.SimPublicURL, pl)
			}
		}
		c, err := platforms.New(pl, cfg)
		if err != nil {
			return nil, err
		}
		if pc.Wrap != nil {
			c = pc.Wrap(c)
		}
		out[pl] = c
	}
	return out, nil
}

// URL is the API's base URL ("http://host:port"), or "" without the api
// component.
func (p *Pulse) URL() string {
	if p.ln == nil {
		return ""
	}
	return "http://" + p.ln.Addr().String()
}

// Brokers are the Kafka brokers in use (the embedded one under Dev or of
// the broker component, when no others are configured).
func (p *Pulse) Brokers() []string { return p.brokers }

// Postgres is the PostgreSQL store, or nil if no component needs it.
func (p *Pulse) Postgres() *postgres.DB { return p.pg }

// ClickHouse is the analytics store, or nil if no component needs it.
func (p *Pulse) ClickHouse() *clickhouse.DB { return p.ch }

// Connectors are the platform connectors, or nil if no component needs
// them.
func (p *Pulse) Connectors() map[topics.Platform]platforms.Connector { return p.conns }

// Simulator is the platform simulator under Dev or of the sim component,
// else nil.
func (p *Pulse) Simulator() *sim.Server { return p.sim }

// SimURL is the sim component's base URL ("http://host:port"), or "".
func (p *Pulse) SimURL() string {
	if p.simLn == nil {
		return ""
	}
	return "http://" + p.simLn.Addr().String()
}

// Run builds the configured components and runs them until ctx ends (a
// clean stop: nil) or one fails (its error; the others are stopped). Every
// component has stopped when Run returns.
func (p *Pulse) Run(ctx context.Context) error {
	// The API last: under Dev its goka monitor shows the processors built
	// before it.
	names := slices.Clone(p.cfg.Components)
	slices.SortStableFunc(names, func(a, b string) int {
		return boolInt(a == API) - boolInt(b == API)
	})
	runs := make(map[string]func(context.Context) error, len(names))
	for _, name := range names {
		run, err := p.Runner(name)
		if err != nil {
			return err
		}
		runs[name] = run
	}
	g := newGroup(ctx, p.cfg.Logger)
	for _, name := range p.cfg.Components {
		g.Go(name, runs[name])
	}
	if p.adminLn != nil {
		g.Go("admin", p.ServeAdmin)
	}
	return g.Wait()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Runner builds a fresh instance of the component name and returns its run
// function, which returns nil when its context ends. The api component
// serves the one listener, so it runs once.
func (p *Pulse) Runner(name string) (func(context.Context) error, error) {
	if !slices.Contains(p.cfg.Components, name) {
		return nil, fmt.Errorf("assembly: component %q is not configured", name)
	}
	switch name {
	case API:
		return p.newAPI()
	case Scheduler:
		s, err := p.NewScheduler()
		if err != nil {
			return nil, err
		}
		p.observeScheduler(s)
		return s.Run, nil
	case Fetcher:
		f, err := p.NewFetcher()
		if err != nil {
			return nil, err
		}
		return f.Run, nil
	case Normalizer:
		proc, err := p.NewNormalizer()
		if err != nil {
			return nil, err
		}
		return runGoka(proc), nil
	case Aggregator:
		proc, err := p.NewAggregator()
		if err != nil {
			return nil, err
		}
		return runGoka(proc), nil
	case Sink:
		s, err := p.NewSink()
		if err != nil {
			return nil, err
		}
		return s.Run, nil
	case Refresher:
		r, err := p.NewRefresher()
		if err != nil {
			return nil, err
		}
		return r.Run, nil
	case Broker:
		// Serving since New; Close stops it.
		return func(ctx context.Context) error { <-ctx.Done(); return nil }, nil
	case Sim:
		return func(ctx context.Context) error { return serve(ctx, p.simLn, p.sim.Handler()) }, nil
	}
	return nil, fmt.Errorf("assembly: unknown component %q", name)
}

// NewScheduler builds a scheduler; Run closes its Kafka client.
func (p *Pulse) NewScheduler() (*scheduler.Scheduler, error) {
	c := p.cfg.Scheduler
	return scheduler.New(scheduler.Config{Brokers: p.brokers, Store: p.pg, Jobs: p.pg, Tick: c.Tick,
		Limits: p.schedulerLimits(), Clock: c.Clock, FullPosts: c.FullPosts, Logger: p.cfg.Logger, ClientOptions: p.clientOptions(Scheduler)})
}

// schedulerLimits are the configured limits, or each platform's published
// ones fetched every Scheduler.Interval.
func (p *Pulse) schedulerLimits() map[topics.Platform]scheduler.Limits {
	if p.cfg.Scheduler.Limits != nil {
		return p.cfg.Scheduler.Limits
	}
	return SchedulerLimits(p.cfg.Scheduler.Interval)
}

// SchedulerLimits returns each platform's published limits, each account
// fetched every interval where they allow (0: the default, an hour).
func SchedulerLimits(interval time.Duration) map[topics.Platform]scheduler.Limits {
	limits := scheduler.DefaultLimits()
	for pl, l := range limits {
		l.Interval = interval
		limits[pl] = l
	}
	return limits
}

// NewFetcher builds a fetcher.
func (p *Pulse) NewFetcher() (*fetcher.Fetcher, error) {
	return fetcher.New(fetcher.Config{Brokers: p.brokers, Links: p.pg, Connectors: p.conns,
		Clock: p.cfg.Fetcher.Clock, Logger: p.cfg.Logger, ClientOptions: p.clientOptions(Fetcher)})
}

// NewNormalizer builds the normalizer processor.
func (p *Pulse) NewNormalizer() (*goka.Processor, error) {
	parsers := make(map[topics.Platform]normalizer.Parser, len(p.conns))
	for pl, c := range p.conns {
		parsers[pl] = c
	}
	opts, err := p.gokaOptions()
	if err != nil {
		return nil, err
	}
	proc, err := normalizer.New(normalizer.Config{Brokers: p.brokers, Parsers: parsers, Options: opts, Logger: p.cfg.Logger})
	if err == nil {
		p.observeGoka(Normalizer, proc)
	}
	return proc, err
}

// NewAggregator builds the aggregator processor.
func (p *Pulse) NewAggregator() (*goka.Processor, error) {
	opts, err := p.gokaOptions()
	if err != nil {
		return nil, err
	}
	proc, err := aggregator.New(aggregator.Config{Brokers: p.brokers, Options: opts, Logger: p.cfg.Logger})
	if err == nil {
		p.observeGoka(Aggregator, proc)
	}
	return proc, err
}

// NewSink builds the ClickHouse sink.
func (p *Pulse) NewSink() (*chsink.Sink, error) {
	clickhouse.InitMetrics()
	return chsink.New(chsink.Config{Brokers: p.brokers, Store: p.ch, FlushInterval: p.cfg.Sink.FlushInterval, Logger: p.cfg.Logger,
		ClientOptions: p.clientOptions(Sink)})
}

// NewRefresher builds the refresher: token renewal, purge retries and
// expiry housekeeping.
func (p *Pulse) NewRefresher() (*upkeep.Worker, error) {
	c := p.cfg.Refresher
	return upkeep.New(upkeep.Config{Links: p.pg, Connectors: p.conns, Purges: p.pg, Purger: p.purger(), Janitor: p.pg,
		Interval: c.Interval, RefreshBefore: c.RefreshBefore, Logger: p.cfg.Logger})
}

// purger erases a deleted user's analytics: their ClickHouse rows, then
// their rows in the processors' tables (through a published deletion).
func (p *Pulse) purger() purgers {
	return purgers{p.ch, p.deletions}
}

// purgers run each purge in turn; the first failure fails the whole, which
// the refresher retries (every purge is idempotent).
type purgers []pulse.AnalyticsPurger

func (ps purgers) Purge(ctx context.Context, req pulse.PurgeRequest) error {
	for _, p := range ps {
		if err := p.Purge(ctx, req); err != nil {
			return err
		}
	}
	return nil
}

// newAPI builds the API with the aggregates view it serves summaries from;
// the run function runs both.
func (p *Pulse) newAPI() (func(context.Context) error, error) {
	opts, release := p.goka.ViewOptions()
	view, err := aggregator.NewView(p.brokers, aggregator.ViewOptions{Options: opts, Release: release})
	if err != nil {
		return nil, err
	}
	hc := p.cfg.HTTP
	mailer := hc.Mailer
	switch {
	case mailer != nil:
	case hc.SMTPURL != "":
		s, err := mail.NewSMTP(mail.SMTPConfig{URL: hc.SMTPURL, From: hc.MailFrom})
		if err != nil {
			release()
			return nil, err
		}
		mailer = s
	case hc.MailDir != "":
		d, err := mail.NewDir(mail.DirConfig{Path: hc.MailDir, From: hc.MailFrom})
		if err != nil {
			release()
			return nil, err
		}
		mailer = d
	default:
		p.cfg.Logger.Warn("no mail delivery configured (--smtp-url or --mail-dir): sign-ups cannot be completed")
	}
	p.observeView(view)
	srv, err := api.New(api.Config{Users: p.pg, Sessions: p.pg, Throttle: p.pg, OAuthStates: p.pg, Links: p.pg, Purges: p.pg,
		Metrics: p.ch, Purger: p.purger(), Connectors: p.conns, Now: view, Web: web.Handler(),
		Extra: p.extra, SecureCookies: hc.SecureCookies, HSTS: hc.HSTS, TrustedProxies: hc.TrustedProxies,
		Introspection: hc.Playground, Playground: hc.Playground, PersistedQueries: hc.PersistedQueries,
		Mailer: mailer, PublicURL: p.cfg.Platforms.PublicURL, AnswerCache: hc.AnswerCache,
		Logger:   p.cfg.Logger,
		Capacity: Capacity{Store: p.pg, Limits: p.schedulerLimits()}, Operators: hc.Operators})
	if err != nil {
		release()
		return nil, err
	}
	var changes *kafka.Changes
	if a := srv.Answers(); a != nil {
		if changes, err = kafka.NewChanges(kafka.ChangesConfig{Brokers: p.brokers, Listener: a, Logger: p.cfg.Logger,
			ClientOptions: []kgo.Opt{kgo.WithHooks(metrics.KgoHooks(API))}}); err != nil {
			release()
			return nil, err
		}
	}
	hs := srv.HTTPServer()
	return func(ctx context.Context) error {
		g := newGroup(ctx, p.cfg.Logger)
		g.Go("aggregates-view", view.Run)
		if changes != nil {
			g.Go("analytics-changes", changes.Run)
		}
		g.Go("http", func(ctx context.Context) error { return serveServer(ctx, p.ln, hs) })
		p.cfg.Logger.Info("api listening", "addr", p.ln.Addr().String())
		return g.Wait()
	}, nil
}

// tableStorage are the LevelDB options of the processors' local tables,
// one LevelDB per table partition (12 with 6 partitions): a 1 MiB write
// buffer and block cache each instead of LevelDB's 4 and 8 MiB, which
// held about 48 MB of memtables in `pulse dev` before a row was read and
// could grow to 150 MB with the caches filled. The rows are small (a
// link's or a user's numbers, a few kilobytes), so a table partition
// rarely fills even the smaller buffer; reads the cache misses hit the OS's
// page cache.
var tableStorage = &opt.Options{WriteBuffer: 1 << 20, BlockCacheCapacity: 1 << 20}

// gokaOptions are the options of Pulse's goka processors: local table
// storage in StateDir (LevelDB with tableStorage's options, written in
// batches: kafka.TableStorage; in memory when empty) and goka's logs at
// debug level.
func (p *Pulse) gokaOptions() ([]goka.ProcessorOption, error) {
	opts := p.goka.ProcessorOptions()
	if dir := p.cfg.Processors.StateDir; dir != "" {
		b, err := kafka.TableStorage(dir, kafka.TableStorageConfig{LevelDB: tableStorage})
		if err != nil {
			return nil, fmt.Errorf("assembly: processors' state: %w", err)
		}
		opts = append(opts, goka.WithStorageBuilder(b))
	} else {
		opts = append(opts, goka.WithStorageBuilder(storage.MemoryBuilder()))
	}
	return append(opts, goka.WithLogger(gokaLogger{p.cfg.Logger})), nil
}

// Close releases what New opened: the API's listener, the databases it
// opened (not those passed in the Config) and the embedded broker. Stop
// Run first.
func (p *Pulse) Close() error {
	var errs []error
	if p.adminLn != nil {
		if err := p.adminLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if p.obs != nil && p.obs.adm != nil {
		p.obs.adm.Close()
	}
	if p.simLn != nil {
		if err := p.simLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if p.ln != nil {
		if err := p.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if p.ownPG && p.pg != nil {
		p.pg.Close()
	}
	if p.ownCH && p.ch != nil {
		if err := p.ch.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if p.deletions != nil {
		p.deletions.Close()
	}
	if p.broker != nil {
		p.broker.Close()
	}
	return errors.Join(errs...)
}

// runGoka runs a goka processor until ctx ends; a cancel is a clean stop.
func runGoka(proc *goka.Processor) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := proc.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
}

// gokaLogger sends goka's chatter to a slog.Logger at debug level.
type gokaLogger struct{ log *slog.Logger }

func (l gokaLogger) Print(v ...any)   { l.log.Debug(fmt.Sprint(v...), "component", "goka") }
func (l gokaLogger) Println(v ...any) { l.log.Debug(fmt.Sprint(v...), "component", "goka") }
func (l gokaLogger) Printf(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "goka")
}

// serve serves h on ln until ctx ends, then shuts down gracefully (at most
// 5s).
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	return serveServer(ctx, ln, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second})
}

// serveServer serves srv on ln until ctx ends, then shuts down gracefully.
func serveServer(ctx context.Context, ln net.Listener, srv *http.Server) error {
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

// group runs components until the first fails or ctx ends, then cancels
// the rest and waits for all of them.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func newGroup(ctx context.Context, log *slog.Logger) *group {
	g := &group{log: log}
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
			g.log.Debug("component stopped", "component", name)
		}
		g.cancel()
	}()
}

func (g *group) Wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}
