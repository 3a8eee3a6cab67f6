package assembly

import (
	"errors"
	"fmt"
	"github.com/pulsehq/pulse/mail"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// Component names, as Config.Components and `pulse processor --run` take
// them.
const (
	API        = "api"        // HTTP: GraphQL, auth and OAuth routes, dashboard; with the aggregates view
	Scheduler  = "scheduler"  // emits fetch requests
	Fetcher    = "fetcher"    // fetch requests → raw payloads and outcomes
	Normalizer = "normalizer" // goka: raw payloads → snapshots and posts
	Aggregator = "aggregator" // goka: snapshots → user aggregates
	Sink       = "sink"       // snapshots and posts → ClickHouse
	Refresher  = "refresher"  // token renewal, purges, expiry housekeeping
)

// Components is every component, in the order Run starts them.
var Components = []string{API, Scheduler, Fetcher, Normalizer, Aggregator, Sink, Refresher}

// The engines a standalone setup may run from the assembly too (`pulse
// broker`, `pulse sim`); Dev embeds both its own way.
const (
	Broker = "broker" // an embedded Kafka-protocol broker (BrokerConfig)
	Sim    = "sim"    // the platform simulator (SimConfig)
)

// Standalone are the components outside Components.
var Standalone = []string{Broker, Sim}

// Config is everything Pulse's components are built from. Only the parts
// the chosen Components need are used; New validates those.
type Config struct {
	// Components to build and Run, from Components. Required.
	Components []string
	// Logger is every component's logger, goka's included (at debug
	// level). Default slog.Default().
	Logger *slog.Logger

	Kafka      KafkaConfig
	Postgres   PostgresConfig
	ClickHouse ClickHouseConfig
	Platforms  PlatformsConfig
	HTTP       HTTPConfig
	Admin      AdminConfig
	Scheduler  SchedulerConfig
	Fetcher    FetcherConfig
	Processors ProcessorsConfig
	Sink       SinkConfig
	Refresher  RefresherConfig
	Broker     BrokerConfig
	Sim        SimConfig

	// Dev, when set, makes a development setup: see DevConfig.
	Dev *DevConfig
}

// KafkaConfig locates the Kafka cluster.
type KafkaConfig struct {
	// Brokers are the seed brokers. Required unless Dev starts an embedded
	// broker.
	Brokers []string
	// Replication of the topics Pulse creates. Default 0: 1 on a
	// one-broker cluster, else 3.
	Replication int
	// Partitions of the topics Pulse creates (existing topics keep
	// theirs). It caps each consumer group's parallelism and cannot change
	// on a live topic: deploy/README.md, "Partitions". Default 0:
	// kafka.DefaultPartitions (6).
	Partitions int
	// GroupInstanceID, when set, makes this process a static member
	// (KIP-345) of every consumer group it joins, under this ID: a
	// restarted process (the same pod after a crash, or kill -9 and a
	// supervisor's restart) takes its partitions back at once instead of
	// waiting for its old member to time out and a rebalance, and a
	// process killed while joining leaves no member behind (the embedded
	// broker, kfake, otherwise keeps such members assigned and the group
	// stalls: deploy/README.md, "Static group membership"). IDs are per
	// group; two live processes must never share one (the broker fences
	// the older). Letters, digits, '.', '_' and '-', at most 249. Default
	// empty: dynamic membership.
	GroupInstanceID string
}

// groupInstanceIDRule is Kafka's rule for names (topics, instance IDs).
var groupInstanceIDRule = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// CheckGroupInstanceID says why id cannot be a group instance ID, or nil
// ("" is allowed: dynamic membership).
func CheckGroupInstanceID(id string) error {
	if id != "" && !groupInstanceIDRule.MatchString(id) {
		return fmt.Errorf("group instance ID %q: want letters, digits, '.', '_' or '-', at most 249", id)
	}
	return nil
}

// PostgresConfig locates PostgreSQL and the token vault's master keys.
type PostgresConfig struct {
	// URL of the database, created if missing and migrated. Required
	// unless DB is set.
	URL string
	// MasterKeys wrap users' data keys: "id:base64key[,id:base64key...]",
	// first is current. Required (or MasterKeyFile) by components that
	// read tokens (api, fetcher, refresher).
	MasterKeys string
	// MasterKeyFile holds the MasterKeys spec; used when MasterKeys is
	// empty.
	MasterKeyFile string
	// DB, when set, is used as it is instead of opening URL: neither
	// migrated nor closed by Close. Tests pass a fresh database.
	DB *postgres.DB
}

// ClickHouseConfig locates ClickHouse.
type ClickHouseConfig struct {
	// URL of the database (native protocol), created if missing and
	// migrated. Required unless DB is set.
	URL string
	// DB, when set, is used as it is instead of opening URL: neither
	// migrated nor closed by Close.
	DB *clickhouse.DB
}

// PlatformsConfig configures the platform connectors.
type PlatformsConfig struct {
	// SimURL points every connector at this platform simulator instead of
	// the real APIs. Default empty: the real APIs.
	SimURL string
	// SimPublicURL is the simulator as browsers reach it, for its authorize
	// pages. Default SimURL.
	SimPublicURL string
	// PublicURL is Pulse's public base URL, for the OAuth redirect URIs
	// (<PublicURL>/oauth/<platform>/callback). Default
	// "http://127.0.0.1:8080", or the API's listener under Dev.
	PublicURL string
	// Apps are each platform's OAuth app. Required for every registered
	// platform, unless SimURL is set (or Dev): then a platform missing
	// here gets client id "pulse-dev" and secret "pulse-dev-secret" (what
	// the simulator accepts).
	Apps map[topics.Platform]App
	// Wrap, if set, wraps each connector (tests observe them with it).
	Wrap func(platforms.Connector) platforms.Connector
	// MaxPostPages caps the posts pages a fetch reads. Default: the
	// connectors' (5).
	MaxPostPages int
}

// App is one platform's OAuth app.
type App struct {
	ClientID     string
	ClientSecret string
	// BaseURL overrides the API root. Default: the real API (or SimURL).
	BaseURL string
}

// HTTPConfig configures the api component's server.
type HTTPConfig struct {
	// Addr to listen on. Default "127.0.0.1:8080".
	Addr string
	// Listener, if set, is served instead of listening on Addr (tests open
	// it first to know the address). Close closes it.
	Listener net.Listener
	// SecureCookies marks cookies Secure. Default: whether PublicURL is
	// https.
	SecureCookies bool
	// HSTS sends Strict-Transport-Security. Default: whether PublicURL is
	// https.
	HSTS bool
	// Playground serves the GraphQL playground at /playground and allows
	// introspection. Default off; on under Dev.
	Playground bool
	// TrustedProxies are the reverse proxies (CIDRs) whose X-Forwarded-For
	// entries name the client, for throttling. Default none: the peer
	// address is the client.
	TrustedProxies []netip.Prefix
	// PersistedQueries, when not nil, are the only GraphQL documents the
	// API runs (api.Config.PersistedQueries). Default nil: any query
	// within the API's limits.
	PersistedQueries []string
	// Operators are the emails of the users who may read the capacityPlan
	// query. Default none (the demo user under Dev).
	Operators []string
	// MailDir is the pickup directory the sign-up mails are written to
	// (mail.Dir), one message file each. Default none: mails are only
	// logged as due, so sign-ups cannot complete (DataDir/mail under Dev,
	// unless SMTPURL is set).
	MailDir string
	// SMTPURL is the SMTP relay the sign-up mails are sent through
	// (mail.SMTPConfig.URL: smtp:// with STARTTLS or smtps://, credentials
	// in the URL). Default none. At most one of MailDir and SMTPURL.
	SMTPURL string
	// MailFrom is the sender of the sign-up mails. Default
	// "Pulse <no-reply@pulse.local>".
	MailFrom string
	// Mailer, if set, sends the sign-up mails instead (tests record them).
	Mailer api.Mailer
	// AnswerCache sizes the API's cache of analytics answers, which
	// follows the sink's topics.AnalyticsChanges (kafka.Changes). Zero
	// fields take api.AnswerCacheConfig's defaults (64 MiB, 5 minutes); a
	// negative MaxBytes turns it off.
	AnswerCache api.AnswerCacheConfig
}

// SchedulerConfig tunes the scheduler. Zero values take the scheduler's
// defaults.
type SchedulerConfig struct {
	// Interval is how often each linked account is fetched where the
	// platforms' limits allow. Default 1h (1 minute under Dev).
	Interval time.Duration
	// Tick is how often due links are looked for when PostgreSQL does not
	// wake the scheduler sooner. Default 1s.
	Tick time.Duration
	// Limits per platform. Default scheduler.DefaultLimits(), each fetched
	// every Interval.
	Limits map[topics.Platform]scheduler.Limits
	// Clock defaults to time.Now.
	Clock func() time.Time
	// FullPosts makes every fetch read the platform's default window of
	// posts instead of only the new ones (scheduler.Config.FullPosts).
	// Default false.
	FullPosts bool
}

// FetcherConfig tunes the fetcher.
type FetcherConfig struct {
	// Clock defaults to time.Now.
	Clock func() time.Time
}

// ProcessorsConfig configures the goka processors.
type ProcessorsConfig struct {
	// StateDir keeps the processors' local table storage (LevelDB, one
	// directory per table partition, written in batches at least once a
	// second: kafka.TableStorage). Default empty: in memory, recovered
	// from Kafka at start (DataDir/goka under Dev).
	StateDir string
}

// SinkConfig tunes the ClickHouse sink.
type SinkConfig struct {
	// FlushInterval is the longest a buffered record waits. Default 1s.
	FlushInterval time.Duration
}

// RefresherConfig tunes the refresher. Zero values take its defaults.
type RefresherConfig struct {
	// Interval between rounds. Default upkeep.DefaultInterval (1m).
	Interval time.Duration
	// RefreshBefore renews a token this long before it expires; more than
	// Interval. Default upkeep.DefaultRefreshBefore (10m).
	RefreshBefore time.Duration
}

// BrokerConfig configures the broker component.
type BrokerConfig struct {
	// Listen is 127.0.0.1:PORT (the broker binds the loopback address
	// only; port 0 picks a free one). Default DefaultBrokers.
	Listen string
	// DataDir keeps the log and committed offsets across restarts.
	// Default empty: in memory.
	DataDir string
}

// SimConfig configures the sim component.
type SimConfig struct {
	// Listen is the address to serve the simulator on. Default
	// "127.0.0.1:8081".
	Listen string
	// Seed of the synthetic data. Default 0.
	Seed int64
	// Accounts per platform. Default sim.DefaultAccounts.
	Accounts int
}

// brokerPort parses Listen: it must be 127.0.0.1:PORT.
func (b BrokerConfig) brokerPort() (int, error) {
	host, port, err := net.SplitHostPort(b.Listen)
	n, perr := strconv.Atoi(port)
	if err != nil || host != "127.0.0.1" || perr != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("broker: listen address must be 127.0.0.1:PORT, got %q", b.Listen)
	}
	return n, nil
}

// DevConfig makes `pulse dev`'s setup: an embedded broker when no Kafka
// brokers are given, a master key file when none is given, the simulator
// mounted at /sim/ on the API's server with every connector pointed at it,
// goka's monitor at /debug/goka/, and a demo user with simulated accounts.
type DevConfig struct {
	// DataDir holds the embedded broker's log (kafka/), goka's state
	// (goka/), the dev master key (master-keys) and the mails (mail/).
	// Default ".data".
	DataDir string
	// BrokerPort is the embedded broker's port on 127.0.0.1. 0 picks a
	// free one. Default 0.
	BrokerPort int
	// Seed of the simulator's data. Default 0.
	Seed int64
	// DemoAccounts linked per platform, at most sim.MaxAccounts: the
	// first DemoAccountsPerUser to the demo user, each further
	// DemoAccountsPerUser to another demo user (DemoUserEmail); the
	// simulator makes that many. Default 0: none.
	DemoAccounts int
}

// Demo credentials seeded under Dev.
const (
	DemoEmail    = "demo@pulse.local"
	DemoPassword = "pulse-demo-password"
)

// Defaults that match what `make run` starts.
const (
	DefaultBrokers     = "127.0.0.1:9092"
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/pulse?sslmode=disable"
	DefaultHTTPAddr    = "127.0.0.1:8080"
	DefaultPublicURL   = "http://" + DefaultHTTPAddr
)

// needs reports what the configured components need.
type needs struct{ kafka, pg, keys, ch, conns, http bool }

func (c *Config) needs() needs {
	var n needs
	for _, name := range c.Components {
		switch name {
		case API:
			n.kafka, n.pg, n.keys, n.ch, n.conns, n.http = true, true, true, true, true, true
		case Scheduler:
			n.kafka, n.pg = true, true
		case Fetcher:
			n.kafka, n.pg, n.keys, n.conns = true, true, true, true
		case Normalizer:
			n.kafka, n.conns = true, true
		case Aggregator:
			n.kafka = true
		case Sink:
			n.kafka, n.ch = true, true
		case Refresher:
			// Kafka: purge retries publish the user's deletion again.
			n.kafka, n.pg, n.keys, n.ch, n.conns = true, true, true, true, true
		}
	}
	return n
}

// Check validates cfg as New does, without opening anything: commands
// call it while parsing their flags.
func Check(cfg Config) error { return cfg.validate() }

// validate checks c and fills in defaults.
func (c *Config) validate() error {
	if len(c.Components) == 0 {
		return errors.New("no components")
	}
	seen := map[string]bool{}
	for _, name := range c.Components {
		if !slices.Contains(Components, name) && !slices.Contains(Standalone, name) {
			return fmt.Errorf("unknown component %q (want one of %s)", name, strings.Join(append(slices.Clone(Components), Standalone...), ", "))
		}
		if seen[name] {
			return fmt.Errorf("component %q named twice", name)
		}
		seen[name] = true
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Dev != nil && (seen[Broker] || seen[Sim]) {
		return errors.New("dev: embeds its own broker and simulator; do not name the broker or sim component")
	}
	if seen[Broker] {
		if c.Broker.Listen == "" {
			c.Broker.Listen = DefaultBrokers
		}
		if _, err := c.Broker.brokerPort(); err != nil {
			return err
		}
	}
	if seen[Sim] {
		if c.Sim.Listen == "" {
			c.Sim.Listen = "127.0.0.1:8081"
		}
		if c.Sim.Accounts < 0 || c.Sim.Accounts > sim.MaxAccounts {
			return fmt.Errorf("sim: accounts %d: want 0 to %d per platform", c.Sim.Accounts, sim.MaxAccounts)
		}
	}
	n := c.needs()
	if c.Dev != nil {
		if c.Dev.DataDir == "" {
			c.Dev.DataDir = ".data"
		}
		if c.Dev.BrokerPort < 0 || c.Dev.BrokerPort > 65535 {
			return fmt.Errorf("dev: broker port %d out of range", c.Dev.BrokerPort)
		}
		if c.Dev.DemoAccounts < 0 || c.Dev.DemoAccounts > sim.MaxAccounts {
			return fmt.Errorf("dev: demo accounts %d: want 0 to %d per platform", c.Dev.DemoAccounts, sim.MaxAccounts)
		}
		if !n.http {
			return errors.New("dev: needs the api component (the simulator is served on its listener)")
		}
		if c.Scheduler.Interval == 0 {
			c.Scheduler.Interval = time.Minute
		}
		if len(c.HTTP.Operators) == 0 {
			c.HTTP.Operators = []string{DemoEmail}
		}
		if c.HTTP.MailDir == "" && c.HTTP.SMTPURL == "" {
			c.HTTP.MailDir = filepath.Join(c.Dev.DataDir, "mail")
		}
	}
	if n.http && c.HTTP.SMTPURL != "" {
		if c.HTTP.MailDir != "" {
			return errors.New("http: mail goes to a pickup directory or an SMTP relay: set the mail dir or the SMTP URL, not both")
		}
		if _, err := mail.NewSMTP(mail.SMTPConfig{URL: c.HTTP.SMTPURL, From: c.HTTP.MailFrom}); err != nil {
			return err
		}
	}
	if n.kafka && len(c.Kafka.Brokers) == 0 && c.Dev == nil {
		return errors.New("kafka: no brokers")
	}
	if c.Kafka.Replication < 0 {
		return fmt.Errorf("kafka: negative replication %d", c.Kafka.Replication)
	}
	if c.Kafka.Partitions < 0 {
		return fmt.Errorf("kafka: negative partitions %d", c.Kafka.Partitions)
	}
	if err := CheckGroupInstanceID(c.Kafka.GroupInstanceID); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	if n.pg && c.Postgres.DB == nil && c.Postgres.URL == "" {
		return errors.New("postgres: no URL")
	}
	if n.ch && c.ClickHouse.DB == nil && c.ClickHouse.URL == "" {
		return errors.New("clickhouse: no URL")
	}
	if n.http && c.HTTP.Addr == "" && c.HTTP.Listener == nil {
		c.HTTP.Addr = DefaultHTTPAddr
	}
	if c.Platforms.PublicURL == "" {
		c.Platforms.PublicURL = DefaultPublicURL
	}
	if strings.HasPrefix(c.Platforms.PublicURL, "https://") {
		c.HTTP.SecureCookies, c.HTTP.HSTS = true, true
	}
	if c.Dev != nil {
		c.HTTP.Playground = true
	}
	if n.conns && c.Dev == nil && c.Platforms.SimURL == "" {
		var missing []string
		for _, pl := range platforms.Registered() {
			if app := c.Platforms.Apps[pl]; app.ClientID == "" || app.ClientSecret == "" {
				missing = append(missing, string(pl))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("platforms: no OAuth client id and secret for %s (PULSE_<PLATFORM>_CLIENT_ID and _CLIENT_SECRET), and no simulator URL",
				strings.Join(missing, ", "))
		}
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"scheduler interval", c.Scheduler.Interval}, {"scheduler tick", c.Scheduler.Tick},
		{"sink flush interval", c.Sink.FlushInterval},
		{"refresher interval", c.Refresher.Interval}, {"refresher refresh-before", c.Refresher.RefreshBefore},
	} {
		if d.d < 0 {
			return fmt.Errorf("negative %s %s", d.name, d.d)
		}
	}
	return nil
}
