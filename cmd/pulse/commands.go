package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/pulsehq/pulse/assembly"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/mail"
)

type devCmd struct {
	AdminAddr string `name:"admin-addr" env:"PULSE_ADMIN_ADDR" default:"127.0.0.1:9091" help:"address of the admin listener: /metrics, /healthz, /readyz and goka's monitor; empty disables it"`
	PostgresFlags
	ClickHouseFlags
	AnswerCacheFlags
	DataDir         string        `name:"data-dir" env:"PULSE_DATA_DIR" default:".data" help:"directory for the embedded broker's log, goka state, the dev master key and the mails (mail/)"`
	HTTPAddr        string        `name:"http-addr" env:"PULSE_HTTP_ADDR" default:"${http_addr}" help:"address to serve the API, dashboard and simulator (/sim/) on"`
	Brokers         string        `name:"brokers" env:"PULSE_BROKERS" help:"use these Kafka brokers instead of the embedded one"`
	BrokerPort      int           `name:"broker-port" env:"PULSE_BROKER_PORT" default:"9092" help:"port of the embedded broker on 127.0.0.1; 0 picks a free one"`
	RefreshInterval time.Duration `name:"refresh-interval" env:"PULSE_REFRESH_INTERVAL" default:"1m" help:"how often each demo account is refetched"`
	Seed            int64         `name:"seed" env:"PULSE_SIM_SEED" default:"1" help:"simulator seed"`
	DemoAccounts    int           `name:"demo-accounts" env:"PULSE_DEMO_ACCOUNTS" default:"2" help:"simulated accounts linked per platform for the demo user"`
	MemoryLimitMiB  int           `name:"memory-limit-mib" env:"PULSE_MEMORY_LIMIT_MIB" default:"400" help:"soft limit of the Go runtime's memory in MiB (runtime/debug.SetMemoryLimit): the GC runs harder near it instead of letting the heap double; 0, or GOMEMLIMIT set, leaves the runtime's own"`
}

func (c *devCmd) Validate() error {
	if c.BrokerPort < 0 || c.BrokerPort > 65535 {
		return fmt.Errorf("--broker-port: %d is not a port", c.BrokerPort)
	}
	if c.RefreshInterval <= 0 {
		return fmt.Errorf("--refresh-interval: %s is not positive", c.RefreshInterval)
	}
	if c.DemoAccounts < 0 {
		return fmt.Errorf("--demo-accounts: %d is negative", c.DemoAccounts)
	}
	if c.MemoryLimitMiB < 0 {
		return fmt.Errorf("--memory-limit-mib: %d is negative", c.MemoryLimitMiB)
	}
	return c.AnswerCacheFlags.validate()
}

func (c *devCmd) Run(e *runEnv) error {
	// Everything runs in this one process; with many demo accounts the
	// live heap is a few hundred MB and the default GC lets it double.
	if c.MemoryLimitMiB > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(c.MemoryLimitMiB) << 20)
	}
	cfg := assembly.Config{
		Components: assembly.Components,
		Kafka:      assembly.KafkaConfig{Brokers: kafka.ParseBrokers(c.Brokers)},
		Postgres:   c.PostgresFlags.config(),
		ClickHouse: assembly.ClickHouseConfig{URL: c.ClickHouseURL},
		Platforms:  assembly.PlatformsConfig{Apps: appsFromEnv()},
		HTTP:       assembly.HTTPConfig{Addr: c.HTTPAddr},
		Scheduler:  assembly.SchedulerConfig{Interval: c.RefreshInterval},
		Dev:        &assembly.DevConfig{DataDir: c.DataDir, BrokerPort: c.BrokerPort, Seed: c.Seed, DemoAccounts: c.DemoAccounts},
		Logger:     e.log,
	}
	cfg.Admin.Addr = c.AdminAddr
	c.AnswerCacheFlags.config(&cfg.HTTP)
	a, err := assembly.New(e.ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	base := a.URL()
	fmt.Fprintf(e.stderr, "\nPulse is running.\n  dashboard:  %s/\n  GraphQL:    %s/graphql (playground: %s/playground)\n  simulator:  %s/sim/_sim/stats\n  pipeline:   %s/debug/goka/\n",
		base, base, base, base, base)
	if admin := a.AdminURL(); admin != "" {
		fmt.Fprintf(e.stderr, "  metrics:    %s/metrics (health: %s/healthz, %s/readyz)\n", admin, admin, admin)
	}
	fmt.Fprintf(e.stderr, "  mail:       %s (sign-up links)\n", filepath.Join(c.DataDir, "mail"))
	fmt.Fprintf(e.stderr, "  demo login: %s / %s\n\n", assembly.DemoEmail, assembly.DemoPassword)
	return a.Run(e.ctx)
}

type brokerCmd struct {
	serviceFlags
	Listen  string `name:"listen" env:"PULSE_BROKER_LISTEN" default:"${brokers}" help:"address to listen on (127.0.0.1 only)"`
	DataDir string `name:"data-dir" env:"PULSE_BROKER_DATA_DIR" default:".data/kafka" help:"directory keeping the log and committed offsets"`
}

func (c *brokerCmd) config() assembly.Config {
	return assembly.Config{Components: []string{assembly.Broker},
		Broker: assembly.BrokerConfig{Listen: c.Listen, DataDir: c.DataDir}}
}

// Validate runs at parse time, so a bad address stops the start.
func (c *brokerCmd) Validate() error {
	if err := assembly.Check(c.config()); err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	return nil
}

func (c *brokerCmd) Run(e *runEnv) error {
	cfg := c.config()
	c.serviceFlags.apply(&cfg)
	return runAssembly(e, cfg)
}

type migrateCmd struct {
	PostgresFlags
	ClickHouseFlags
}

func (c *migrateCmd) Run(e *runEnv) error {
	pdb, err := assembly.OpenPostgres(e.ctx, c.PostgresFlags.config(), false)
	if err != nil {
		return err
	}
	pdb.Close()
	cdb, err := assembly.OpenClickHouse(e.ctx, c.ClickHouseURL)
	if err != nil {
		return err
	}
	cdb.Close()
	e.log.Info("migrations applied")
	return nil
}

type apiCmd struct {
	serviceFlags
	PostgresFlags
	ClickHouseFlags
	PlatformFlags
	KafkaFlags
	AnswerCacheFlags
	HTTPAddr         string   `name:"http-addr" env:"PULSE_HTTP_ADDR" default:"${http_addr}" help:"address to serve HTTP on"`
	Operators        []string `name:"operator-emails" env:"PULSE_OPERATOR_EMAILS" help:"emails of the users who may read the capacityPlan query"`
	TrustedProxies   []string `name:"trusted-proxies" env:"PULSE_TRUSTED_PROXIES" sep:"," help:"comma-separated CIDRs of reverse proxies whose X-Forwarded-For entries name the client (for throttling); default none: the peer address"`
	Playground       bool     `name:"playground" env:"PULSE_PLAYGROUND" help:"serve the GraphQL playground at /playground and allow introspection (off by default)"`
	PersistedQueries string   `name:"persisted-queries" env:"PULSE_PERSISTED_QUERIES" type:"existingfile" help:"JSON file with an array of GraphQL documents: the only ones the API runs (default: any query within the limits)"`
	MailDir          string   `name:"mail-dir" env:"PULSE_MAIL_DIR" help:"pickup directory the sign-up mails are written to, one message file each (default none: mails are only logged as due, so sign-ups cannot complete)"`
	SMTPURL          string   `name:"smtp-url" env:"PULSE_SMTP_URL" help:"SMTP relay the sign-up mails are sent through: smtp://[user:password@]host[:587] (STARTTLS required off loopback) or smtps://…[:465]; instead of --mail-dir"`
	MailFrom         string   `name:"mail-from" env:"PULSE_MAIL_FROM" help:"sender of the sign-up mails (default \"Pulse <no-reply@pulse.local>\")"`
}

// persistedQueries reads the --persisted-queries file, if given.
func (c *apiCmd) persistedQueries() ([]string, error) {
	if c.PersistedQueries == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.PersistedQueries)
	if err != nil {
		return nil, fmt.Errorf("--persisted-queries: %w", err)
	}
	var qs []string
	if err := json.Unmarshal(b, &qs); err != nil {
		return nil, fmt.Errorf("--persisted-queries: %s is not a JSON array of strings: %w", c.PersistedQueries, err)
	}
	return qs, nil
}

// Validate runs at parse time, so a bad CIDR or mail setting stops the
// start.
func (c *apiCmd) Validate() error {
	if _, err := c.trustedProxies(); err != nil {
		return err
	}
	if err := c.AnswerCacheFlags.validate(); err != nil {
		return err
	}
	if c.SMTPURL != "" && c.MailDir != "" {
		return errors.New("--smtp-url and --mail-dir: set one of them")
	}
	if c.SMTPURL != "" {
		if _, err := mail.NewSMTP(mail.SMTPConfig{URL: c.SMTPURL, From: c.MailFrom}); err != nil {
			return fmt.Errorf("--smtp-url: %w", err)
		}
	}
	return nil
}

// trustedProxies parses --trusted-proxies; a bare address is its own /32
// or /128.
func (c *apiCmd) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range c.TrustedProxies {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("--trusted-proxies: %q is not a CIDR or an address", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (c *apiCmd) Run(e *runEnv) error {
	pq, err := c.persistedQueries()
	if err != nil {
		return err
	}
	proxies, err := c.trustedProxies()
	if err != nil {
		return err
	}
	cfg := assembly.Config{
		Components: []string{assembly.API},
		Kafka:      c.KafkaFlags.config(),
		Postgres:   c.PostgresFlags.config(),
		ClickHouse: assembly.ClickHouseConfig{URL: c.ClickHouseURL},
		Platforms:  c.PlatformFlags.config(),
		HTTP: assembly.HTTPConfig{Addr: c.HTTPAddr, Playground: c.Playground, PersistedQueries: pq, TrustedProxies: proxies,
			MailDir: c.MailDir, SMTPURL: c.SMTPURL, MailFrom: c.MailFrom},
	}
	c.AnswerCacheFlags.config(&cfg.HTTP)
	c.serviceFlags.apply(&cfg)
	return runAssembly(e, cfg)
}

type schedulerCmd struct {
	serviceFlags
	KafkaFlags
	PostgresFlags
	Interval time.Duration `name:"interval" env:"PULSE_REFRESH_INTERVAL" default:"1h" help:"how often each linked account is fetched where the platform's limits allow"`
}

func (c *schedulerCmd) Validate() error {
	if c.Interval <= 0 {
		return fmt.Errorf("--interval: %s is not positive", c.Interval)
	}
	return nil
}

func (c *schedulerCmd) Run(e *runEnv) error {
	cfg := assembly.Config{
		Components: []string{assembly.Scheduler},
		Kafka:      c.KafkaFlags.config(),
		Postgres:   c.PostgresFlags.config(),
		Scheduler:  assembly.SchedulerConfig{Interval: c.Interval},
	}
	c.serviceFlags.apply(&cfg)
	return runAssembly(e, cfg)
}

type fetcherCmd struct {
	serviceFlags
	KafkaFlags
	PostgresFlags
	PlatformFlags
}

func (c *fetcherCmd) Run(e *runEnv) error {
	cfg := assembly.Config{
		Components: []string{assembly.Fetcher},
		Kafka:      c.KafkaFlags.config(),
		Postgres:   c.PostgresFlags.config(),
		Platforms:  c.PlatformFlags.config(),
	}
	c.serviceFlags.apply(&cfg)
	return runAssembly(e, cfg)
}

type processorCmd struct {
	serviceFlags
	KafkaFlags
	PlatformFlags
	StateDir string   `name:"state-dir" env:"PULSE_STATE_DIR" default:".data/goka" help:"directory for goka's local table storage; empty keeps tables in memory (recovered from Kafka at start)"`
	Run_     []string `name:"run" env:"PULSE_PROCESSORS" default:"${processors}" enum:"normalizer,aggregator" help:"comma-separated goka processors to run in this process: normalizer, aggregator"`
}

func (c *processorCmd) Run(e *runEnv) error {
	cfg := assembly.Config{
		Components: c.Run_,
		Kafka:      c.KafkaFlags.config(),
		Platforms:  c.PlatformFlags.config(),
		Processors: assembly.ProcessorsConfig{StateDir: c.StateDir},
	}
	c.serviceFlags.apply(&cfg)
	return runAssembly(e, cfg)
}

type sinkCmd struct {
	serviceFlags
	KafkaFlags
	ClickHouseFlags
}

func (c *sinkCmd) Run(e *runEnv) error {
	cfg := assembly.Config{
		Components: []string{assembly.Sink},
		Kafka:      c.KafkaFlags.config(),
		ClickHouse: assembly.ClickHouseConfig{URL: c.ClickHouseURL},
	}
	c.serviceFlags.apply(&cfg)
	return runAssembly(e, cfg)
}

type refresherCmd struct {
	serviceFlags
	KafkaFlags
	PostgresFlags
	ClickHouseFlags
	PlatformFlags
	Interval      time.Duration `name:"interval" env:"PULSE_REFRESHER_INTERVAL" default:"${refresher_interval}" help:"time between rounds"`
	RefreshBefore time.Duration `name:"refresh-before" env:"PULSE_REFRESH_BEFORE" default:"${refresher_before}" help:"renew a token this long before it expires (more than --interval)"`
}

func (c *refresherCmd) Validate() error {
	if c.Interval <= 0 {
		return fmt.Errorf("--interval: %s is not positive", c.Interval)
	}
	if c.RefreshBefore <= c.Interval {
		return fmt.Errorf("--refresh-before: %s must exceed --interval %s", c.RefreshBefore, c.Interval)
	}
	return nil
}

func (c *refresherCmd) Run(e *runEnv) error {
	cfg := assembly.Config{
		Components: []string{assembly.Refresher},
		Kafka:      c.KafkaFlags.config(),
		Postgres:   c.PostgresFlags.config(),
		ClickHouse: assembly.ClickHouseConfig{URL: c.ClickHouseURL},
		Platforms:  c.PlatformFlags.config(),
		Refresher:  assembly.RefresherConfig{Interval: c.Interval, RefreshBefore: c.RefreshBefore},
	}
	c.serviceFlags.apply(&cfg)
	return runAssembly(e, cfg)
}

// rotateKeysCmd re-wraps every data key under the current master key (the
// first of --master-keys), calling RotateMasterKey until it finds nothing
// left to do. It runs online, next to the other components.
type rotateKeysCmd struct {
	PostgresFlags
}

func (c *rotateKeysCmd) Run(e *runEnv) error {
	pdb, err := assembly.OpenPostgres(e.ctx, c.PostgresFlags.config(), true)
	if err != nil {
		return err
	}
	defer pdb.Close()
	total := 0
	for {
		n, err := pdb.RotateMasterKey(e.ctx)
		total += n
		if err != nil {
			return fmt.Errorf("rotate-keys: after re-wrapping %d data keys: %w", total, err)
		}
		if n == 0 {
			break
		}
		fmt.Fprintf(e.stdout, "re-wrapped %d data keys\n", n)
	}
	fmt.Fprintf(e.stdout, "done: %d data keys re-wrapped; every data key is under the current master key, "+
		"so the other keys can be removed from the configuration\n", total)
	return nil
}

type simCmd struct {
	serviceFlags
	Listen   string `name:"listen" env:"PULSE_SIM_LISTEN" default:"127.0.0.1:8081" help:"address to serve the simulator on"`
	Seed     int64  `name:"seed" env:"PULSE_SIM_SEED" default:"1" help:"seed of the synthetic data"`
	Accounts int    `name:"accounts" env:"PULSE_SIM_ACCOUNTS" default:"${sim_accounts}" help:"synthetic accounts per platform"`
}

func (c *simCmd) config() assembly.Config {
	return assembly.Config{Components: []string{assembly.Sim},
		Sim: assembly.SimConfig{Listen: c.Listen, Seed: c.Seed, Accounts: c.Accounts}}
}

// Validate runs at parse time, so a bad account count stops the start.
func (c *simCmd) Validate() error {
	if err := assembly.Check(c.config()); err != nil {
		return fmt.Errorf("--accounts: %w", err)
	}
	return nil
}

func (c *simCmd) Run(e *runEnv) error {
	cfg := c.config()
	c.serviceFlags.apply(&cfg)
	return runAssembly(e, cfg)
}
