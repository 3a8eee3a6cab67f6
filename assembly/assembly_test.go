package assembly_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse/assembly"
	"github.com/pulsehq/pulse/internal/testkit"
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
