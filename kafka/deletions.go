package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// Deletions publishes topics.UserDeletion records, which make the goka
// processors forget a deleted user (their table rows become tombstones).
// Safe for concurrent use.
type Deletions struct {
	cl    *kgo.Client
	clock func() time.Time
}

// NewDeletions builds a publisher on brokers. Close it when done.
func NewDeletions(brokers []string) (*Deletions, error) {
	if len(brokers) == 0 {
		return nil, errors.New("kafka: deletions: no brokers")
	}
	cl, err := NewClient(brokers)
	if err != nil {
		return nil, fmt.Errorf("kafka: deletions: %w", err)
	}
	return &Deletions{cl: cl, clock: time.Now}, nil
}

// Purge publishes the deletion of req.UserID, naming req.LinkIDs (the
// aggregator forgets the user and has the normalizer forget these links and
// those in its row), and returns once the broker has it. Publishing twice
// is harmless, so purge retries may call it again. It implements
// pulse.AnalyticsPurger.
func (d *Deletions) Purge(ctx context.Context, req pulse.PurgeRequest) error {
	userID := req.UserID
	if userID == "" {
		return errors.New("kafka: delete user: user id required")
	}
	v, err := topics.UserDeletionCodec.Marshal(&topics.UserDeletion{UserID: userID, LinkIDs: req.LinkIDs, DeletedAt: d.clock().UTC()})
	if err != nil {
		return fmt.Errorf("kafka: delete user: %w", err)
	}
	if err := d.cl.ProduceSync(ctx, &kgo.Record{Topic: topics.UserDeletions, Key: []byte(userID), Value: v}).FirstErr(); err != nil {
		return fmt.Errorf("kafka: delete user: produce: %w", err)
	}
	return nil
}

// Close closes the client.
func (d *Deletions) Close() { d.cl.Close() }
