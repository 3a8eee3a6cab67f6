package assembly_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse/assembly"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

// TestNewRejectsBadConfigs: New validates before it opens anything, and
// says what is wrong.
func TestNewRejectsBadConfigs(t *testing.T) {
	kafka := assembly.KafkaConfig{Brokers: []string{"127.0.0.1:1"}}
	for _, tc := range []struct {
		name string
		cfg  assembly.Config
		want string
	}{
		{"no components", assembly.Config{}, "no components"},
		{"unknown component", assembly.Config{Components: []string{"joiner"}}, `unknown component "joiner"`},
		{"twice", assembly.Config{Components: []string{assembly.Sink, assembly.Sink}, Kafka: kafka}, "named twice"},
		{"no brokers", assembly.Config{Components: []string{assembly.Aggregator}}, "kafka: no brokers"},
		{"negative replication", assembly.Config{Components: []string{assembly.Aggregator}, Kafka: assembly.KafkaConfig{Brokers: kafka.Brokers, Replication: -1}}, "replication"},
		{"no postgres", assembly.Config{Components: []string{assembly.Scheduler}, Kafka: kafka}, "postgres: no URL"},
		{"no clickhouse", assembly.Config{Components: []string{assembly.Sink}, Kafka: kafka}, "clickhouse: no URL"},
		{"negative tick", assembly.Config{Components: []string{assembly.Scheduler}, Kafka: kafka,
			Postgres: assembly.PostgresConfig{URL: "postgres://x"}, Scheduler: assembly.SchedulerConfig{Tick: -time.Second}}, "scheduler tick"},
		{"dev without api", assembly.Config{Components: []string{assembly.Sink}, Dev: &assembly.DevConfig{}}, "needs the api"},
		{"no platform credentials", assembly.Config{Components: []string{assembly.Normalizer}, Kafka: kafka,
			Platforms: assembly.PlatformsConfig{Apps: map[topics.Platform]assembly.App{topics.X: {ClientID: "id", ClientSecret: "secret"}}}},
			"no OAuth client id and secret for facebook"},
		{"dev bad port", assembly.Config{Components: assembly.Components, Dev: &assembly.DevConfig{BrokerPort: 70000}}, "broker port"},
		{"dev too many demo accounts", assembly.Config{Components: assembly.Components, Dev: &assembly.DevConfig{DemoAccounts: 10000}}, "demo accounts 10000"},
		{"broker not on loopback", assembly.Config{Components: []string{assembly.Broker}, Broker: assembly.BrokerConfig{Listen: "0.0.0.0:9092"}}, "127.0.0.1:PORT"},
		{"sim too many accounts", assembly.Config{Components: []string{assembly.Sim}, Sim: assembly.SimConfig{Accounts: 10000}}, "accounts 10000"},
		{"smtp and mail dir", assembly.Config{Components: []string{assembly.API}, Kafka: kafka,
			HTTP: assembly.HTTPConfig{Addr: "127.0.0.1:0", SMTPURL: "smtps://relay.example", MailDir: "/tmp/mail"}}, "not both"},
		{"bad smtp url", assembly.Config{Components: []string{assembly.API}, Kafka: kafka,
			HTTP: assembly.HTTPConfig{Addr: "127.0.0.1:0", SMTPURL: "ftp://relay.example"}}, `scheme "ftp"`},
		{"dev with a broker", assembly.Config{Components: append([]string{assembly.Broker}, assembly.Components...), Dev: &assembly.DevConfig{}}, "embeds its own"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := assembly.New(context.Background(), tc.cfg)
			if err == nil {
				a.Close()
				t.Fatal("New accepted the config")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestBrokerAndSimComponents: the engines of a standalone setup run from
// the assembly like any component: the broker accepts Pulse's topics, the
// simulator serves its stats, and Close frees both addresses.
func TestBrokerAndSimComponents(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	a, err := assembly.New(t.Context(), assembly.Config{
		Components: assembly.Standalone,
		Broker:     assembly.BrokerConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir()},
		Sim:        assembly.SimConfig{Listen: "127.0.0.1:0", Seed: 3, Accounts: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	if _, err := kafka.EnsureTopics(t.Context(), a.Brokers(), 0, kafka.PulseTopics()...); err != nil {
		t.Fatalf("the broker: %v", err)
	}
	if n := len(a.Simulator().Accounts(topics.X)); n != 2 {
		t.Fatalf("simulator has %d X accounts, want 2", n)
	}
	simURL := a.SimURL()
	testkit.Eventually(t, 10*time.Second, func() error {
		resp, err := http.Get(simURL + "/_sim/stats")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("stats: %s", resp.Status)
		}
		return nil
	})

	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, addr := range append([]string{strings.TrimPrefix(simURL, "http://")}, a.Brokers()...) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Close", addr)
		}
	}
}

// TestGroupInstanceID: with KafkaConfig.GroupInstanceID set, every
// consumer group a component joins (franz-go's and goka's alike) has this
// process as a static member under that ID, and a bad ID stops New.
func TestGroupInstanceID(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL, ClickHouse and a broker")
	}
	_, err := assembly.New(t.Context(), assembly.Config{Components: []string{assembly.Aggregator},
		Kafka: assembly.KafkaConfig{Brokers: []string{"127.0.0.1:1"}, GroupInstanceID: "pod/0"}})
	if err == nil || !strings.Contains(err.Error(), `group instance ID "pod/0"`) {
		t.Fatalf("New with a bad ID: %v", err)
	}

	const id = "pulse-worker-0"
	a := newPulse(t, assembly.Config{
		Components: assembly.Components,
		Kafka:      assembly.KafkaConfig{GroupInstanceID: id},
		Postgres:   assembly.PostgresConfig{DB: pgtest.MustOpen(t)},
		ClickHouse: assembly.ClickHouseConfig{DB: chtest.MustOpen(t)},
		HTTP:       assembly.HTTPConfig{Listener: listen(t)},
		Admin:      assembly.AdminConfig{Listener: listen(t)},
		Dev:        &assembly.DevConfig{DataDir: t.TempDir(), DemoAccounts: 1, Seed: 1},
	})
	runPulse(t, a)
	adm, err := kafka.NewAdmin(a.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	for _, group := range []string{topics.GroupFetcher, topics.GroupNormalizer, topics.GroupAggregator, topics.GroupSink, "pulse-scheduler"} {
		eventually(t, 60*time.Second, group+": one static member "+id, func() (bool, string) {
			ms, state, err := adm.Members(t.Context(), group)
			if err != nil {
				return false, err.Error()
			}
			return state == "Stable" && len(ms) == 1 && ms[0].InstanceID == id, fmt.Sprintf("%s %+v", state, ms)
		})
	}
}
