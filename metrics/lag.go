package metrics

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Offsets reads a topic's end offsets and a group's committed offsets.
// *kafka.Admin implements it.
type Offsets interface {
	// EndOffsets returns the next offset to be written, by partition.
	EndOffsets(ctx context.Context, topic string) (map[int32]int64, error)
	// CommittedOffsets returns group's committed offsets on topic, by
	// partition; partitions without a commit are absent.
	CommittedOffsets(ctx context.Context, group, topic string) (map[int32]int64, error)
}

// GroupTopics names a consumer group and the topics it consumes.
type GroupTopics struct {
	Group  string
	Topics []string
}

var lagDesc = prometheus.NewDesc("pulse_consumer_lag_records",
	"Records a consumer group has yet to consume, by group, topic and partition: end offset minus committed offset (a partition never committed counts from 0). Read from the brokers at scrape time, so it keeps growing when the group's consumers stop.",
	[]string{"group", "topic", "partition"}, nil)

// LagCollector exports pulse_consumer_lag_records for its groups. It asks
// the brokers at most once per MaxAge, within Timeout.
type LagCollector struct {
	offsets Offsets
	groups  []GroupTopics
	// MaxAge is how long a reading is reused. Default 5s.
	MaxAge time.Duration
	// Timeout bounds one reading. Default 5s.
	Timeout time.Duration

	mu   sync.Mutex
	at   time.Time
	last []prometheus.Metric
}

// NewLagCollector returns a collector of groups' lag read through offsets.
func NewLagCollector(offsets Offsets, groups ...GroupTopics) *LagCollector {
	return &LagCollector{offsets: offsets, groups: groups, MaxAge: 5 * time.Second, Timeout: 5 * time.Second}
}

// Describe implements prometheus.Collector.
func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc }

// Collect implements prometheus.Collector. A topic whose offsets cannot be
// read is left out of this scrape (and logged at debug level).
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil || time.Since(c.at) >= c.MaxAge {
		c.last, c.at = c.read(), time.Now()
	}
	for _, m := range c.last {
		ch <- m
	}
}

func (c *LagCollector) read() []prometheus.Metric {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	out := []prometheus.Metric{}
	ends := map[string]map[int32]int64{}
	for _, g := range c.groups {
		for _, t := range g.Topics {
			end, ok := ends[t]
			if !ok {
				var err error
				if end, err = c.offsets.EndOffsets(ctx, t); err != nil {
					slog.Debug("metrics: consumer lag: end offsets", "topic", t, "err", err)
					continue
				}
				ends[t] = end
			}
			committed, err := c.offsets.CommittedOffsets(ctx, g.Group, t)
			if err != nil {
				slog.Debug("metrics: consumer lag: committed offsets", "group", g.Group, "topic", t, "err", err)
				continue
			}
			for p, e := range end {
				lag := max(e-committed[p], 0)
				out = append(out, prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(lag),
					g.Group, t, strconv.Itoa(int(p))))
			}
		}
	}
	return out
}
