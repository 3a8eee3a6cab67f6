package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse/topics"
)

// ChangeListener is told whose analytics change, by Changes. The API's
// answer cache implements it.
type ChangeListener interface {
	// Following is called once Changes reads every change published from
	// then on: from the call on, Changed reports each of them.
	Following()
	// Changed reports that userID's analytics changed. It is called from
	// one goroutine and should return quickly.
	Changed(userID string)
	// Lost is called when changes may have been missed since the last
	// Following: the feed failed or stopped. Until the next Following, the
	// listener cannot learn of changes.
	Lost()
}

// ChangesConfig configures a Changes feed. Zero values take the stated
// defaults.
type ChangesConfig struct {
	// Brokers to read from. Required.
	Brokers []string
	// Listener is told of the changes. Required.
	Listener ChangeListener
	// MaxBackoff caps the wait before following again after a failure;
	// the first wait is 100ms, doubling, with jitter. Default 10s.
	MaxBackoff time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// ClientOptions are extra franz-go options (tests use them).
	ClientOptions []kgo.Opt
}

// Changes follows topics.AnalyticsChanges live, without a consumer group:
// every process that caches answers reads every partition, from the end
// the topic had when it started following, and tells its Listener.
type Changes struct {
	cfg ChangesConfig
}

// NewChanges validates cfg and builds a feed; Run starts it.
func NewChanges(cfg ChangesConfig) (*Changes, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka: changes: no brokers")
	}
	if cfg.Listener == nil {
		return nil, errors.New("kafka: changes: no listener")
	}
	if cfg.MaxBackoff < 0 {
		return nil, errors.New("kafka: changes: negative backoff")
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Changes{cfg: cfg}, nil
}

// Run follows the changes until ctx ends, then returns nil. When following
// fails (the brokers unreachable, the topic missing) it tells the
// Listener Lost and starts again from the topic's new end after a backoff;
// changes published in between are not read, which is what Lost means.
func (c *Changes) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		following, err := c.follow(ctx)
		c.cfg.Listener.Lost()
		if ctx.Err() != nil {
			return nil
		}
		if following {
			backoff = 100 * time.Millisecond
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		c.cfg.Logger.Warn("kafka: following analytics changes failed; retrying", "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, c.cfg.MaxBackoff)
	}
}

// follow reads the topic from its current end until ctx ends or a fetch
// fails, and reports whether it got as far as calling Following.
func (c *Changes) follow(ctx context.Context) (bool, error) {
	ends, err := c.ends(ctx)
	if err != nil {
		return false, err
	}
	opts := append([]kgo.Opt{kgo.ConsumePartitions(ends)}, c.cfg.ClientOptions...)
	cl, err := NewClient(c.cfg.Brokers, opts...)
	if err != nil {
		return false, err
	}
	defer cl.Close()
	c.cfg.Listener.Following()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return true, nil
		}
		fs.EachRecord(func(r *kgo.Record) {
			if len(r.Key) > 0 {
				c.cfg.Listener.Changed(string(r.Key))
			}
		})
		if err := fs.Err(); err != nil {
			return true, fmt.Errorf("kafka: changes: fetch: %w", err)
		}
	}
}

// ends lists the topic's end offsets: where following starts.
func (c *Changes) ends(ctx context.Context) (map[string]map[int32]kgo.Offset, error) {
	cl, err := NewClient(c.cfg.Brokers, c.cfg.ClientOptions...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics.AnalyticsChanges)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: changes: list end offsets: %w", err)
	}
	parts := map[int32]kgo.Offset{}
	listed.Each(func(o kadm.ListedOffset) { parts[o.Partition] = kgo.NewOffset().At(o.Offset) })
	if len(parts) == 0 {
		return nil, fmt.Errorf("kafka: changes: topic %s has no partitions", topics.AnalyticsChanges)
	}
	return map[string]map[int32]kgo.Offset{topics.AnalyticsChanges: parts}, nil
}
