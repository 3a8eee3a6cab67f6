package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/topics"
	"github.com/pulsehq/pulse/vault"
)

// env returns the environment variable's value or def.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("pulse "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: pulse %s [flags]\n\n%s.\n\nFlags:\n", name, commands[name].summary)
		fs.PrintDefaults()
	}
	return fs
}

func strVar(fs *flag.FlagSet, p *string, name, envName, def, usage string) {
	fs.StringVar(p, name, env(envName, def), usage+" (env "+envName+")")
}

func durVar(fs *flag.FlagSet, p *time.Duration, name, envName string, def time.Duration, usage string) {
	d := def
	if v := os.Getenv(envName); v != "" {
		if pd, err := time.ParseDuration(v); err == nil {
			d = pd
		}
	}
	fs.DurationVar(p, name, d, usage+" (env "+envName+")")
}

// Defaults shared by every command; they match what `make run` starts.
const (
	defaultBrokers       = "127.0.0.1:9092"
	defaultPostgresURL   = "postgres://postgres@127.0.0.1:5432/pulse?sslmode=disable"
	defaultClickHouseURL = clickhouse.DefaultURL
	defaultHTTPAddr      = "127.0.0.1:8080"
	defaultSimAddr       = "127.0.0.1:8081"
)

type kafkaFlags struct {
	brokers     string
	replication int
}

func (k *kafkaFlags) register(fs *flag.FlagSet) {
	strVar(fs, &k.brokers, "brokers", "PULSE_BROKERS", defaultBrokers, "comma-separated Kafka seed brokers")
	fs.IntVar(&k.replication, "replication", 0, "replication factor of topics Pulse creates; 0 picks 1 on one broker, else 3 (env PULSE_KAFKA_REPLICATION)")
	if v := os.Getenv("PULSE_KAFKA_REPLICATION"); v != "" {
		fmt.Sscan(v, &k.replication)
	}
}

func (k *kafkaFlags) list() []string { return kafka.ParseBrokers(k.brokers) }

// ensureTopics creates Pulse's topics and returns the goka settings for the
// cluster.
func (k *kafkaFlags) ensureTopics(ctx context.Context) (*kafka.Goka, error) {
	repl, err := kafka.EnsureTopics(ctx, k.list(), k.replication, kafka.PulseTopics()...)
	if err != nil {
		return nil, err
	}
	return kafka.NewGoka(k.list(), repl), nil
}

type pgFlags struct {
	url           string
	masterKeys    string
	masterKeyFile string
}

func (p *pgFlags) register(fs *flag.FlagSet) {
	strVar(fs, &p.url, "postgres-url", "PULSE_POSTGRES_URL", defaultPostgresURL, "PostgreSQL URL (the database is created if missing)")
	strVar(fs, &p.masterKeys, "master-keys", "PULSE_MASTER_KEYS", "", "token-vault master keys, id:base64key[,id:base64key...], first is current")
	strVar(fs, &p.masterKeyFile, "master-key-file", "PULSE_MASTER_KEY_FILE", "", "file holding the master keys spec (instead of --master-keys)")
}

// open opens and migrates PostgreSQL with the keyring, if one is configured.
func (p *pgFlags) open(ctx context.Context, needKeys bool) (*postgres.DB, error) {
	var opts []postgres.Option
	spec := p.masterKeys
	if spec == "" && p.masterKeyFile != "" {
		b, err := os.ReadFile(p.masterKeyFile)
		if err != nil {
			return nil, fmt.Errorf("master key file: %w", err)
		}
		spec = strings.TrimSpace(string(b))
	}
	if spec != "" {
		kr, err := vault.ParseKeyring(spec)
		if err != nil {
			return nil, err
		}
		opts = append(opts, postgres.WithKeyWrapper(kr))
	} else if needKeys {
		return nil, errors.New("no master keys: set --master-keys or --master-key-file (pulse dev creates one for you)")
	}
	if err := postgres.CreateDatabase(ctx, p.url); err != nil {
		return nil, err
	}
	db, err := postgres.Open(ctx, p.url, opts...)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// devMasterKeyFile returns a master key file under dir, creating one with a
// fresh random key on first use. For development only.
func devMasterKeyFile(dir string) (string, error) {
	path := filepath.Join(dir, "master-keys")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	key := make([]byte, 32)
	rand.Read(key)
	// The id names the key, so a database sealed under another dev key
	// fails with "unknown key" rather than a decryption error.
	sum := sha256.Sum256(key)
	spec := fmt.Sprintf("dev-%x:%s\n", sum[:4], base64.StdEncoding.EncodeToString(key))
	if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
		return "", err
	}
	return path, nil
}

type chFlags struct{ url string }

func (c *chFlags) register(fs *flag.FlagSet) {
	strVar(fs, &c.url, "clickhouse-url", "PULSE_CLICKHOUSE_URL", defaultClickHouseURL, "ClickHouse native-protocol URL (the database is created if missing)")
}

func (c *chFlags) open(ctx context.Context) (*clickhouse.DB, error) {
	db, err := clickhouse.Open(ctx, c.url)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

type platformFlags struct {
	simURL       string
	simPublicURL string
	publicURL    string
}

func (p *platformFlags) register(fs *flag.FlagSet) {
	strVar(fs, &p.simURL, "sim-url", "PULSE_SIM_URL", "", "point every connector at this platform simulator instead of the real APIs")
	strVar(fs, &p.simPublicURL, "sim-public-url", "PULSE_SIM_PUBLIC_URL", "", "the simulator's address as browsers reach it, for its authorize pages (default: --sim-url)")
	strVar(fs, &p.publicURL, "public-url", "PULSE_PUBLIC_URL", "http://"+defaultHTTPAddr, "Pulse's public base URL, for OAuth redirect URIs")
}

// connectors builds every registered connector. Client credentials come
// from PULSE_<PLATFORM>_CLIENT_ID and PULSE_<PLATFORM>_CLIENT_SECRET; base
// URLs from PULSE_<PLATFORM>_BASE_URL, or the simulator with --sim-url.
func (p *platformFlags) connectors() (map[topics.Platform]platforms.Connector, error) {
	out := map[topics.Platform]platforms.Connector{}
	for _, pl := range platforms.Registered() {
		up := strings.ToUpper(string(pl))
		cfg := platforms.Config{
			ClientID:     env("PULSE_"+up+"_CLIENT_ID", "pulse-dev"),
			ClientSecret: env("PULSE_"+up+"_CLIENT_SECRET", "pulse-dev-secret"),
			RedirectURL:  strings.TrimSuffix(p.publicURL, "/") + "/oauth/" + string(pl) + "/callback",
			BaseURL:      os.Getenv("PULSE_" + up + "_BASE_URL"),
		}
		if p.simURL != "" {
			cfg.BaseURL = strings.TrimSuffix(p.simURL, "/") + "/" + string(pl)
			cfg.AuthBaseURL = cfg.BaseURL
			if p.simPublicURL != "" {
				cfg.AuthBaseURL = strings.TrimSuffix(p.simPublicURL, "/") + "/" + string(pl)
			}
		}
		c, err := platforms.New(pl, cfg)
		if err != nil {
			return nil, err
		}
		out[pl] = c
	}
	return out, nil
}
