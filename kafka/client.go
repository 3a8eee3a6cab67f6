package kafka

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse/topics"
)

// DefaultPartitions is the partition count Pulse creates its topics with.
const DefaultPartitions = 6

// ParseBrokers splits a comma-separated broker list.
func ParseBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func fnv32a(b []byte) uint32 {
	h := fnv.New32a()
	h.Write(b)
	return h.Sum32()
}

// Partitioner is the partitioner every Pulse producer uses. It places keys
// exactly as goka (sarama's fnv-1a) does, so records produced with franz-go
// land in the partition whose goka table holds their key.
func Partitioner() kgo.Partitioner {
	return kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(fnv32a))
}

// NewClient builds a franz-go client for brokers with Pulse's partitioner
// and the given extra options (which may override it).
func NewClient(brokers []string, opts ...kgo.Opt) (*kgo.Client, error) {
	if len(brokers) == 0 {
		return nil, errors.New("kafka: no brokers given")
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.RecordPartitioner(Partitioner()),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: new client: %w", err)
	}
	return cl, nil
}

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name       string
	Partitions int32
	// Compacted topics keep the latest value per key forever.
	Compacted bool
	// Retention, when set, is how long records are kept (retention.ms);
	// zero keeps the cluster's default (a week on Kafka).
	Retention time.Duration
}

// ChangesRetention is how long topics.AnalyticsChanges keeps its records:
// their readers follow it live from its end, so an hour leaves room for a
// slow reader without keeping a week of them.
const ChangesRetention = time.Hour

// PulseTopics returns the specs of every topic in topics.All, with the
// default partition count.
func PulseTopics() []TopicSpec {
	specs := make([]TopicSpec, 0, len(topics.All))
	for _, t := range topics.All {
		spec := TopicSpec{Name: t}
		if t == topics.AnalyticsChanges {
			spec.Retention = ChangesRetention
		}
		specs = append(specs, spec)
	}
	return specs
}

// EnsureTopics creates the topics that do not exist yet with the given
// replication factor; 0 picks 1 on a one-broker cluster and min(brokers, 3)
// otherwise. Existing topics are left as they are. It returns the
// replication factor used, for goka's own topics.
func EnsureTopics(ctx context.Context, brokers []string, replication int, specs ...TopicSpec) (int, error) {
	cl, err := NewClient(brokers)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if replication <= 0 {
		meta, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return 0, fmt.Errorf("kafka: ensure topics: metadata: %w", err)
		}
		replication = min(len(meta.Brokers), 3)
	}
	repl := int16(replication)
	for _, s := range specs {
		parts := s.Partitions
		if parts == 0 {
			parts = DefaultPartitions
		}
		cfg := map[string]*string{}
		if s.Compacted {
			cfg["cleanup.policy"] = kadm.StringPtr("compact")
		}
		if s.Retention > 0 {
			cfg["retention.ms"] = kadm.StringPtr(strconv.FormatInt(s.Retention.Milliseconds(), 10))
		}
		resp, err := adm.CreateTopic(ctx, parts, repl, cfg, s.Name)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return 0, fmt.Errorf("kafka: create topic %s: %w", s.Name, err)
		}
		if resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			return 0, fmt.Errorf("kafka: create topic %s: %w", s.Name, resp.Err)
		}
	}
	return replication, nil
}

// Goka holds the builders that make goka processors, views and emitters work
// against Pulse's brokers: a sarama config reading new groups from the
// oldest offset, topic creation with the cluster's replication, and the
// processors' producer settings.
type Goka struct {
	Brokers     []string
	Sarama      *sarama.Config
	TopicConfig *goka.TopicManagerConfig
	// EmitLinger is how long a processor's emits wait for others to fill
	// a batch (franz-go's ProducerLinger); batches also fill while a
	// request is in flight. NewGoka sets 1ms.
	EmitLinger time.Duration
	// EmitTimeout fails an emit the brokers did not take in this time,
	// stopping the processor. NewGoka sets 1 minute.
	EmitTimeout time.Duration
}

// NewGoka builds goka settings for brokers. replication is the topic
// replication factor: 1 for the embedded broker, 3 for a production cluster.
func NewGoka(brokers []string, replication int) *Goka {
	sc := goka.DefaultConfig()
	sc.Version = sarama.V2_1_0_0
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	// kfake and small dev clusters rebalance faster with shorter timings.
	sc.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	// (Processors emit through franz-go, not sarama: gokaProducerBuilder.)
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = replication
	tmc.Stream.Replication = replication
	tmc.Stream.Retention = 7 * 24 * time.Hour
	return &Goka{Brokers: brokers, Sarama: sc, TopicConfig: tmc, EmitLinger: time.Millisecond, EmitTimeout: time.Minute}
}

// SetGroupInstanceID makes the processors static members (KIP-345) of
// their consumer groups under id (sarama needs protocol 2.3 for it); ""
// leaves them dynamic.
func (g *Goka) SetGroupInstanceID(id string) {
	if id == "" {
		return
	}
	g.Sarama.Consumer.Group.InstanceId = id
	g.Sarama.Version = sarama.V2_3_0_0
}

func (g *Goka) copyConfig() *sarama.Config {
	c := *g.Sarama
	return &c
}

// ProcessorOptions returns the options every Pulse goka processor is built
// with: sarama for consuming (goka's consumer group), franz-go for
// emitting (gokaProducerBuilder).
func (g *Goka) ProcessorOptions() []goka.ProcessorOption {
	return []goka.ProcessorOption{
		goka.WithTopicManagerBuilder(g.TopicManagerBuilder()),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(g.copyConfig())),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(g.copyConfig())),
		goka.WithProducerBuilder(gokaProducerBuilder(g.EmitLinger, g.EmitTimeout)),
	}
}

// ViewOptions returns the options every Pulse goka view is built with, and
// a release function to call after the view's Run returned: goka v1.1.17
// views do not close the sarama consumer and topic manager they create.
func (g *Goka) ViewOptions() (opts []goka.ViewOption, release func()) {
	var (
		mu      sync.Mutex
		closers []io.Closer
	)
	track := func(c io.Closer) {
		mu.Lock()
		closers = append(closers, c)
		mu.Unlock()
	}
	tmb := g.TopicManagerBuilder()
	cb := goka.SaramaConsumerBuilderWithConfig(g.copyConfig())
	opts = []goka.ViewOption{
		goka.WithViewTopicManagerBuilder(func(brokers []string) (goka.TopicManager, error) {
			tm, err := tmb(brokers)
			if err == nil {
				track(tm)
			}
			return tm, err
		}),
		goka.WithViewConsumerSaramaBuilder(func(brokers []string, clientID string) (sarama.Consumer, error) {
			c, err := cb(brokers, clientID)
			if err == nil {
				track(c)
			}
			return c, err
		}),
	}
	release = func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range closers {
			_ = c.Close()
		}
		closers = nil
	}
	return opts, release
}
