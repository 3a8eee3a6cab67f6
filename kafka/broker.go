// Package kafka holds Pulse's Kafka plumbing: the embedded broker (franz-go's
// kfake, which speaks the real Kafka protocol), client construction with the
// partitioner every Pulse producer must share with goka, topic creation, and
// goka configuration that works on one broker and on a real cluster alike.
package kafka

import (
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kfake"
)

// BrokerConfig configures an embedded broker.
type BrokerConfig struct {
	// Port to listen on, 127.0.0.1 only. Default 0: a random free port.
	Port int
	// DataDir keeps the log and committed offsets across restarts. Default
	// empty: in memory only (every record stays on the heap).
	DataDir string
	// Partitions is the default partition count of auto-created topics.
	// Default 6.
	Partitions int
}

// Broker is an embedded single-node Kafka-protocol broker.
type Broker struct {
	c *kfake.Cluster
}

// StartBroker starts an embedded broker. Close it when done.
func StartBroker(cfg BrokerConfig) (*Broker, error) {
	if cfg.Partitions == 0 {
		cfg.Partitions = DefaultPartitions
	}
	if cfg.Port < 0 || cfg.Partitions < 0 {
		return nil, fmt.Errorf("kafka: start broker: invalid config %+v", cfg)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(cfg.Port),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.AllowAutoTopicCreation(),
		// No periodic compaction (one every 30 days). kfake's compaction,
		// unlike Kafka's, moves a partition's log start offset to its
		// first surviving record, so a goka view or table recovery still
		// reading below it fails with OffsetOutOfRange: `pulse dev` with
		// 10,000 accounts died at its first compaction (one minute in),
		// its API view catching up the aggregator table. Table topics of
		// the embedded broker therefore keep superseded values and
		// tombstones; a real Kafka compacts them.
		kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": "2592000000"}),
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("kafka: start broker: %w", err)
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: start broker: %w", err)
	}
	return &Broker{c: c}, nil
}

// Addrs returns the broker's host:port seed addresses.
func (b *Broker) Addrs() []string { return b.c.ListenAddrs() }

// Close stops the broker, flushing its data dir if it has one.
func (b *Broker) Close() { b.c.Close() }
