package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/web"
)

func runBroker(ctx context.Context, args []string) error {
	fs := newFlagSet("broker")
	var addr, dataDir string
	strVar(fs, &addr, "listen", "PULSE_BROKER_LISTEN", defaultBrokers, "address to listen on (127.0.0.1 only)")
	strVar(fs, &dataDir, "data-dir", "PULSE_BROKER_DATA_DIR", ".data/kafka", "directory keeping the log and committed offsets")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var port int
	if _, err := fmt.Sscanf(addr, "127.0.0.1:%d", &port); err != nil {
		return fmt.Errorf("--listen must be 127.0.0.1:PORT, got %q", addr)
	}
	b, err := kafka.StartBroker(kafka.BrokerConfig{Port: port, DataDir: dataDir})
	if err != nil {
		return err
	}
	slog.Info("broker listening", "addrs", b.Addrs(), "data_dir", dataDir)
	<-ctx.Done()
	b.Close()
	return nil
}

func runMigrate(ctx context.Context, args []string) error {
	fs := newFlagSet("migrate")
	var pg pgFlags
	var ch chFlags
	pg.register(fs)
	ch.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	pdb, err := pg.open(ctx, false)
	if err != nil {
		return err
	}
	pdb.Close()
	cdb, err := ch.open(ctx)
	if err != nil {
		return err
	}
	cdb.Close()
	slog.Info("migrations applied")
	return nil
}

func runAPI(ctx context.Context, args []string) error {
	fs := newFlagSet("api")
	var pg pgFlags
	var ch chFlags
	var pf platformFlags
	var k kafkaFlags
	var addr string
	pg.register(fs)
	ch.register(fs)
	pf.register(fs)
	k.register(fs)
	strVar(fs, &addr, "http-addr", "PULSE_HTTP_ADDR", defaultHTTPAddr, "address to serve HTTP on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conns, err := pf.connectors()
	if err != nil {
		return err
	}
	g, err := k.ensureTopics(ctx)
	if err != nil {
		return err
	}
	pdb, err := pg.open(ctx, true)
	if err != nil {
		return err
	}
	defer pdb.Close()
	cdb, err := ch.open(ctx)
	if err != nil {
		return err
	}
	defer cdb.Close()
	view, err := newAggregatesView(g)
	if err != nil {
		return err
	}
	h, err := newAPI(apiDeps{pg: pdb, ch: cdb, web: web.Handler(), conns: conns, now: view,
		secureCookies: strings.HasPrefix(pf.publicURL, "https://")})
	if err != nil {
		return err
	}
	slog.Info("api listening", "addr", addr)
	grp := newGroup(ctx)
	grp.Go("aggregates-view", view.Run)
	grp.Go("api", func(ctx context.Context) error { return serveHTTP(ctx, addr, h) })
	return grp.Wait()
}

func runScheduler(ctx context.Context, args []string) error {
	fs := newFlagSet("scheduler")
	var k kafkaFlags
	var pg pgFlags
	var interval time.Duration
	k.register(fs)
	pg.register(fs)
	durVar(fs, &interval, "interval", "PULSE_REFRESH_INTERVAL", 24*time.Hour, "longest time a linked account goes without a fetch")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := k.ensureTopics(ctx); err != nil {
		return err
	}
	pdb, err := pg.open(ctx, false)
	if err != nil {
		return err
	}
	defer pdb.Close()
	s, err := newScheduler(k.list(), pdb, interval)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

func runFetcher(ctx context.Context, args []string) error {
	fs := newFlagSet("fetcher")
	var k kafkaFlags
	var pg pgFlags
	var pf platformFlags
	k.register(fs)
	pg.register(fs)
	pf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := k.ensureTopics(ctx); err != nil {
		return err
	}
	pdb, err := pg.open(ctx, true)
	if err != nil {
		return err
	}
	defer pdb.Close()
	conns, err := pf.connectors()
	if err != nil {
		return err
	}
	f, err := newFetcher(k.list(), pdb, conns)
	if err != nil {
		return err
	}
	return f.Run(ctx)
}

func runProcessor(ctx context.Context, args []string) error {
	fs := newFlagSet("processor")
	var k kafkaFlags
	var pf platformFlags
	var stateDir, run string
	k.register(fs)
	pf.register(fs)
	strVar(fs, &stateDir, "state-dir", "PULSE_STATE_DIR", ".data/goka", "directory for goka's local table storage; empty keeps tables in memory (recovered from Kafka at start)")
	strVar(fs, &run, "run", "PULSE_PROCESSORS", "normalizer,aggregator", "comma-separated goka processors to run in this process")
	if err := fs.Parse(args); err != nil {
		return err
	}
	g, err := k.ensureTopics(ctx)
	if err != nil {
		return err
	}
	grp := newGroup(ctx)
	for _, name := range kafka.ParseBrokers(run) {
		switch name {
		case "normalizer":
			conns, err := pf.connectors()
			if err != nil {
				return err
			}
			p, err := newNormalizer(g, conns, stateDir)
			if err != nil {
				return err
			}
			grp.Go(name, runGoka(p))
		case "aggregator":
			p, err := newAggregator(g, stateDir)
			if err != nil {
				return err
			}
			grp.Go(name, runGoka(p))
		default:
			return fmt.Errorf("--run: unknown processor %q (want normalizer, aggregator)", name)
		}
	}
	return grp.Wait()
}

func runSink(ctx context.Context, args []string) error {
	fs := newFlagSet("sink")
	var k kafkaFlags
	var ch chFlags
	k.register(fs)
	ch.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := k.ensureTopics(ctx); err != nil {
		return err
	}
	cdb, err := ch.open(ctx)
	if err != nil {
		return err
	}
	defer cdb.Close()
	s, err := newSink(k.list(), cdb)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

func runSim(ctx context.Context, args []string) error {
	fs := newFlagSet("sim")
	var addr string
	var seed int64
	var accounts int
	strVar(fs, &addr, "listen", "PULSE_SIM_LISTEN", defaultSimAddr, "address to serve the simulator on")
	fs.Int64Var(&seed, "seed", 1, "seed of the synthetic data")
	fs.IntVar(&accounts, "accounts", sim.DefaultAccounts, "synthetic accounts per platform")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := sim.New(sim.Config{Seed: seed, Accounts: accounts})
	if err != nil {
		return err
	}
	slog.Info("simulator listening", "addr", addr, "platforms", s.Platforms())
	return serveHTTP(ctx, addr, s.Handler())
}

// simMount mounts the simulator under /sim/ on the API's server.
func simMount(s *sim.Server) map[string]http.Handler {
	return map[string]http.Handler{"/sim/": http.StripPrefix("/sim", s.Handler())}
}

func stateDirIn(dataDir string) string { return filepath.Join(dataDir, "goka") }
