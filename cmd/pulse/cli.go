package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/assembly"
	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
	"github.com/pulsehq/pulse/upkeep"
)

// cli is the command tree. Each flag's struct tags give its name, its
// environment variable, its default and its help in one place.
type cli struct {
	LogLevel slog.Level `name:"log-level" env:"PULSE_LOG_LEVEL" default:"info" help:"log level: debug, info, warn or error"`

	Dev        devCmd        `cmd:"" help:"Every component in one process on embedded defaults, with the simulator and demo data."`
	Broker     brokerCmd     `cmd:"" help:"A standalone embedded Kafka-protocol broker (kfake) with a data dir."`
	API        apiCmd        `cmd:"" name:"api" help:"The GraphQL API, auth and OAuth routes and dashboard."`
	Scheduler  schedulerCmd  `cmd:"" help:"Emit fetch requests for due links, within each platform's budget."`
	Plan       planCmd       `cmd:"" help:"Print the capacity plan: accounts that fit hourly and daily per platform, the binding limit, the expected staleness."`
	Fetcher    fetcherCmd    `cmd:"" help:"Consume fetch requests, call the platform APIs, publish raw payloads and outcomes."`
	Processor  processorCmd  `cmd:"" help:"The goka processors: the normalizer (raw payloads to snapshots and posts) and the aggregator (user aggregates)."`
	Sink       sinkCmd       `cmd:"" help:"Batch normalized events into ClickHouse."`
	Sim        simCmd        `cmd:"" help:"The platform simulator: real API paths, OAuth endpoints and rate-limit signals."`
	Migrate    migrateCmd    `cmd:"" help:"Apply PostgreSQL and ClickHouse migrations, then exit."`
	Refresher  refresherCmd  `cmd:"" help:"Renew OAuth tokens before they expire, retry analytics purges of deleted users, delete expired rows."`
	RotateKeys rotateKeysCmd `cmd:"" name:"rotate-keys" help:"Re-wrap every user's data key under the current master key, then exit."`
	Replay     replayCmd     `cmd:"" help:"Reset a stopped consumer group's offsets (earliest, a time or an offset) and watch it catch up."`
	DLQ        dlqCmd        `cmd:"" name:"dlq" help:"List or redrive dead letters."`
}

// runEnv is what every command's Run gets.
type runEnv struct {
	ctx            context.Context
	stdout, stderr io.Writer
	log            *slog.Logger
}

// exitCode carries kong's exit (after --help) out of the parser.
type exitCode int

// run parses args and runs the command; main exits with its result: 0 on
// success and after --help, 2 for a bad command line or environment
// variable, 1 when the command failed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	var c cli
	parser, err := newParser(&c, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pulse: %v\n", err)
		return 1
	}
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(exitCode)
			if !ok {
				panic(r)
			}
			code = int(c)
		}
	}()
	if len(args) == 0 {
		// No command: the usage, and the exit status of a bad command line.
		parser.Stdout = stderr
		parser.Exit = func(int) { panic(exitCode(2)) }
		args = []string{"--help"}
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "pulse: %v\n", err)
		var pe *kong.ParseError
		if errors.As(err, &pe) && pe.Context != nil && pe.Context.Selected() != nil {
			fmt.Fprintf(stderr, "Run 'pulse %s --help' for its flags.\n", pe.Context.Selected().Path())
		} else {
			fmt.Fprintf(stderr, "Run 'pulse --help' for the commands.\n")
		}
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.LogLevel}))
	slog.SetDefault(log)
	if err := kctx.Run(&runEnv{ctx: ctx, stdout: stdout, stderr: stderr, log: log}); err != nil {
		log.Error("pulse "+kctx.Command()+" failed", "err", err)
		return 1
	}
	return 0
}

// newParser builds the parser of the command tree into c.
func newParser(c *cli, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(c,
		kong.Name("pulse"),
		kong.Description("Pulse: a streaming ETL and API for social-media analytics. Every flag can also be set with the environment variable shown in its help."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitCode(code)) }),
		kong.Vars{
			"brokers":            assembly.DefaultBrokers,
			"postgres_url":       assembly.DefaultPostgresURL,
			"clickhouse_url":     clickhouse.DefaultURL,
			"http_addr":          assembly.DefaultHTTPAddr,
			"public_url":         assembly.DefaultPublicURL,
			"refresher_interval": upkeep.DefaultInterval.String(),
			"refresher_before":   upkeep.DefaultRefreshBefore.String(),
			"groups":             strings.Join([]string{topics.GroupFetcher, topics.GroupNormalizer, topics.GroupAggregator, topics.GroupSink}, ", "),
			"processors":         assembly.Normalizer + "," + assembly.Aggregator,
			"sim_accounts":       strconv.Itoa(sim.DefaultAccounts),
		},
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
}

// serviceFlags are the options every long-running command shares (those
// that run components until stopped). Options that apply to every such
// process, whatever it runs (an admin listener, say), go here; apply
// copies them into the assembly.Config.
type serviceFlags struct {
	AdminAddr string `name:"admin-addr" env:"PULSE_ADMIN_ADDR" help:"address of the admin listener (e.g. 127.0.0.1:9091): /metrics, /healthz, /readyz and goka's monitor (/debug/goka/) where processors run; default none"`
}

// apply sets what the service flags configure.
func (s serviceFlags) apply(cfg *assembly.Config) { cfg.Admin.Addr = s.AdminAddr }

// KafkaFlags locate the Kafka cluster.
type KafkaFlags struct {
	Brokers     string `name:"brokers" env:"PULSE_BROKERS" default:"${brokers}" help:"comma-separated Kafka seed brokers"`
	Replication int    `name:"replication" env:"PULSE_KAFKA_REPLICATION" default:"0" help:"replication factor of topics Pulse creates; 0 picks 1 on one broker, else 3"`
	Partitions  int    `name:"partitions" env:"PULSE_KAFKA_PARTITIONS" default:"0" help:"partitions of topics Pulse creates (caps each consumer group's replicas; fixed once created); 0 is 6"`
	// GroupInstanceID: see assembly.KafkaConfig.GroupInstanceID.
	GroupInstanceID string `name:"group-instance-id" env:"PULSE_GROUP_INSTANCE_ID" help:"join consumer groups as this static member (KIP-345): a restart takes its partitions back at once; unique per live process, e.g. the pod name; empty: dynamic membership"`
}

func (k KafkaFlags) config() assembly.KafkaConfig {
	return assembly.KafkaConfig{Brokers: kafka.ParseBrokers(k.Brokers), Replication: k.Replication, Partitions: k.Partitions,
		GroupInstanceID: k.GroupInstanceID}
}

// Validate runs at parse time, so a bad value stops the start.
func (k KafkaFlags) Validate() error {
	if len(kafka.ParseBrokers(k.Brokers)) == 0 {
		return errors.New("--brokers: no broker given")
	}
	if k.Replication < 0 {
		return fmt.Errorf("--replication: %d is negative", k.Replication)
	}
	if k.Partitions < 0 {
		return fmt.Errorf("--partitions: %d is negative", k.Partitions)
	}
	if err := assembly.CheckGroupInstanceID(k.GroupInstanceID); err != nil {
		return fmt.Errorf("--group-instance-id: %w", err)
	}
	return nil
}

// PostgresFlags locate PostgreSQL and the vault's master keys.
type PostgresFlags struct {
	PostgresURL   string `name:"postgres-url" env:"PULSE_POSTGRES_URL" default:"${postgres_url}" help:"PostgreSQL URL (the database is created if missing)"`
	MasterKeys    string `name:"master-keys" env:"PULSE_MASTER_KEYS" help:"token-vault master keys, id:base64key[,id:base64key...], first is current"`
	MasterKeyFile string `name:"master-key-file" env:"PULSE_MASTER_KEY_FILE" help:"file holding the master keys spec (instead of --master-keys)"`
}

func (p PostgresFlags) config() assembly.PostgresConfig {
	return assembly.PostgresConfig{URL: p.PostgresURL, MasterKeys: p.MasterKeys, MasterKeyFile: p.MasterKeyFile}
}

// AnswerCacheFlags size the API's cache of analytics answers.
type AnswerCacheFlags struct {
	AnswerCacheMiB int           `name:"answer-cache-mib" env:"PULSE_ANSWER_CACHE_MIB" default:"64" help:"memory for the API's cache of analytics answers, in MiB; a user's answers are dropped as the sink reports their new data (topic pulse.analytics-changes.v1); 0 turns the cache off"`
	AnswerCacheTTL time.Duration `name:"answer-cache-ttl" env:"PULSE_ANSWER_CACHE_TTL" default:"5m" help:"longest an answer is served from the cache: the bound on its staleness should a change go unannounced"`
}

func (f AnswerCacheFlags) validate() error {
	if f.AnswerCacheMiB < 0 {
		return fmt.Errorf("--answer-cache-mib: %d is negative", f.AnswerCacheMiB)
	}
	if f.AnswerCacheTTL <= 0 {
		return fmt.Errorf("--answer-cache-ttl: %s is not positive", f.AnswerCacheTTL)
	}
	return nil
}

// config sets the answer cache of h.
func (f AnswerCacheFlags) config(h *assembly.HTTPConfig) {
	h.AnswerCache = api.AnswerCacheConfig{MaxBytes: int64(f.AnswerCacheMiB) << 20, TTL: f.AnswerCacheTTL}
	if f.AnswerCacheMiB == 0 {
		h.AnswerCache.MaxBytes = -1
	}
}

// ClickHouseFlags locate ClickHouse.
type ClickHouseFlags struct {
	ClickHouseURL string `name:"clickhouse-url" env:"PULSE_CLICKHOUSE_URL" default:"${clickhouse_url}" help:"ClickHouse native-protocol URL (the database is created if missing)"`
}

// PlatformFlags configure the connectors. Each platform's OAuth app comes
// from PULSE_<PLATFORM>_CLIENT_ID, PULSE_<PLATFORM>_CLIENT_SECRET and
// PULSE_<PLATFORM>_BASE_URL.
type PlatformFlags struct {
	SimURL       string `name:"sim-url" env:"PULSE_SIM_URL" help:"point every connector at this platform simulator instead of the real APIs"`
	SimPublicURL string `name:"sim-public-url" env:"PULSE_SIM_PUBLIC_URL" help:"the simulator's address as browsers reach it, for its authorize pages (default: --sim-url)"`
	PublicURL    string `name:"public-url" env:"PULSE_PUBLIC_URL" default:"${public_url}" help:"Pulse's public base URL, for OAuth redirect URIs"`
}

func (p PlatformFlags) config() assembly.PlatformsConfig {
	return assembly.PlatformsConfig{SimURL: p.SimURL, SimPublicURL: p.SimPublicURL, PublicURL: p.PublicURL, Apps: appsFromEnv()}
}

// appsFromEnv reads each registered platform's OAuth app from
// PULSE_<PLATFORM>_CLIENT_ID, PULSE_<PLATFORM>_CLIENT_SECRET (both
// required unless --sim-url is given) and PULSE_<PLATFORM>_BASE_URL
// (default: the real API).
func appsFromEnv() map[topics.Platform]assembly.App {
	apps := map[topics.Platform]assembly.App{}
	for _, pl := range platforms.Registered() {
		up := "PULSE_" + strings.ToUpper(string(pl))
		apps[pl] = assembly.App{
			ClientID:     os.Getenv(up + "_CLIENT_ID"),
			ClientSecret: os.Getenv(up + "_CLIENT_SECRET"),
			BaseURL:      os.Getenv(up + "_BASE_URL"),
		}
	}
	return apps
}

// runAssembly builds cfg's components and runs them until ctx ends.
func runAssembly(e *runEnv, cfg assembly.Config) error {
	cfg.Logger = e.log
	a, err := assembly.New(e.ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(e.ctx)
}
