package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/vault"
	"github.com/pulsehq/pulse/web"
)

// Demo credentials seeded by pulse dev.
const (
	demoEmail    = "demo@pulse.local"
	demoPassword = "pulse-demo-password"
)

func runDev(ctx context.Context, args []string) error {
	fs := newFlagSet("dev")
	var (
		pg        pgFlags
		ch        chFlags
		dataDir   string
		httpAddr  string
		brokers   string
		brokerPrt int
		interval  time.Duration
		seed      int64
		demoAccts int
	)
	pg.register(fs)
	ch.register(fs)
	strVar(fs, &dataDir, "data-dir", "PULSE_DATA_DIR", ".data", "directory for the embedded broker's log, goka state and the dev master key")
	strVar(fs, &httpAddr, "http-addr", "PULSE_HTTP_ADDR", defaultHTTPAddr, "address to serve the API, dashboard and simulator (/sim/) on")
	strVar(fs, &brokers, "brokers", "PULSE_BROKERS", "", "use these Kafka brokers instead of the embedded one")
	fs.IntVar(&brokerPrt, "broker-port", 9092, "port of the embedded broker on 127.0.0.1; 0 picks a free one")
	durVar(fs, &interval, "refresh-interval", "PULSE_REFRESH_INTERVAL", time.Minute, "how often each demo account is refetched")
	fs.Int64Var(&seed, "seed", 1, "simulator seed")
	fs.IntVar(&demoAccts, "demo-accounts", 2, "simulated accounts linked per platform for the demo user")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if pg.masterKeys == "" && pg.masterKeyFile == "" {
		f, err := devMasterKeyFile(dataDir)
		if err != nil {
			return err
		}
		pg.masterKeyFile = f
	}

	k := kafkaFlags{brokers: brokers}
	if brokers == "" {
		b, err := kafka.StartBroker(kafka.BrokerConfig{Port: brokerPrt, DataDir: filepath.Join(dataDir, "kafka")})
		if err != nil {
			return err
		}
		defer b.Close()
		k.brokers = b.Addrs()[0]
		slog.Info("embedded broker started", "addr", k.brokers)
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

	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return err
	}
	started := false
	defer func() {
		if !started {
			ln.Close()
		}
	}()
	base := "http://" + ln.Addr().String()
	simSrv, err := sim.New(sim.Config{Seed: seed})
	if err != nil {
		return err
	}
	pf := platformFlags{simURL: base + "/sim", publicURL: base}
	conns, err := pf.connectors()
	if err != nil {
		return err
	}
	if err := seedDemo(ctx, pdb, simSrv, demoAccts); err != nil {
		return err
	}
	sched, err := newScheduler(k.list(), pdb, interval)
	if err != nil {
		return err
	}
	fet, err := newFetcher(k.list(), pdb, conns)
	if err != nil {
		return err
	}
	proc, err := newNormalizer(g, conns, stateDirIn(dataDir))
	if err != nil {
		return err
	}
	agg, err := newAggregator(g, stateDirIn(dataDir))
	if err != nil {
		return err
	}
	view, err := newAggregatesView(g)
	if err != nil {
		return err
	}
	sink, err := newSink(k.list(), cdb)
	if err != nil {
		return err
	}
	ref, err := newRefresher(pdb, cdb, conns, 0, 0)
	if err != nil {
		return err
	}
	extra := simMount(simSrv)
	maps.Copy(extra, gokaMonitor(proc, agg))
	h, err := newAPI(apiDeps{pg: pdb, ch: cdb, web: web.Handler(), extra: extra, conns: conns, now: view})
	if err != nil {
		return err
	}
	started = true

	grp := newGroup(ctx)
	grp.Go("api", func(ctx context.Context) error { return serveListener(ctx, ln, h) })
	grp.Go("scheduler", sched.Run)
	grp.Go("fetcher", fet.Run)
	grp.Go("normalizer", runGoka(proc))
	grp.Go("aggregator", runGoka(agg))
	grp.Go("aggregates-view", view.Run)
	grp.Go("sink", sink.Run)
	grp.Go("refresher", ref.Run)

	fmt.Fprintf(os.Stderr, "\nPulse is running.\n  dashboard:  %s/\n  GraphQL:    %s/graphql (playground: %s/playground)\n  simulator:  %s/sim/_sim/stats\n  pipeline:   %s/debug/goka/\n  demo login: %s / %s\n\n",
		base, base, base, base, base, demoEmail, demoPassword)
	return grp.Wait()
}

// seedDemo creates the demo user, if missing, and links demoAccts simulated
// accounts per platform with tokens the simulator issued. A demo user whose
// data key was wrapped by another master key (a database kept from a run
// with another data dir) is deleted and seeded again: it holds demo data
// only.
func seedDemo(ctx context.Context, db *postgres.DB, s *sim.Server, demoAccts int) error {
	err := seedDemoOnce(ctx, db, s, demoAccts)
	if err == nil || !errors.Is(err, errDemoKey) {
		return err
	}
	slog.Warn("demo user's tokens were sealed under another master key; recreating the demo user", "err", err)
	u, aerr := db.Authenticate(ctx, demoEmail, demoPassword)
	if aerr != nil {
		return err
	}
	if derr := db.DeleteUser(ctx, u.ID); derr != nil {
		return fmt.Errorf("recreate demo user: %w", derr)
	}
	return seedDemoOnce(ctx, db, s, demoAccts)
}

var errDemoKey = errors.New("demo user's data key cannot be unwrapped")

func seedDemoOnce(ctx context.Context, db *postgres.DB, s *sim.Server, demoAccts int) error {
	u, err := db.CreateUser(ctx, demoEmail, demoPassword)
	if errors.Is(err, postgres.ErrConflict) {
		if u, err = db.Authenticate(ctx, demoEmail, demoPassword); err != nil {
			return fmt.Errorf("demo user exists with another password: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("seed demo user: %w", err)
	}
	for _, p := range s.Platforms() {
		for i, acct := range s.Accounts(p) {
			if i >= demoAccts {
				break
			}
			access, refresh, expiry, err := s.IssueToken(p, acct.ID)
			if err != nil {
				return fmt.Errorf("seed demo %s token: %w", p, err)
			}
			tok := &oauth2.Token{AccessToken: access, RefreshToken: refresh, TokenType: "bearer", Expiry: expiry}
			if _, err := db.UpsertLink(ctx, u.ID, p, acct.ID, acct.Handle, tok, "demo"); err != nil {
				if errors.Is(err, vault.ErrDecrypt) || errors.Is(err, vault.ErrUnknownKey) {
					return fmt.Errorf("%w: %v", errDemoKey, err)
				}
				return fmt.Errorf("seed demo %s link: %w", p, err)
			}
		}
	}
	return nil
}
