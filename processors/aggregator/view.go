package aggregator

import (
	"context"
	"errors"
	"fmt"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/pulsehq/pulse/topics"
)

// View serves the aggregator's table: each user's latest numbers, kept up
// to date from Kafka. It is what the API reads for "now" numbers. Get is
// safe for concurrent use once Run has started.
type View struct {
	v       *goka.View
	release func()
}

// ViewOptions builds a View: options such as goka.WithViewStorageBuilder
// and topic-manager builders, and release, called after Run returns to free
// clients the view's builders made (see kafka.Goka.ViewOptions).
type ViewOptions struct {
	Options []goka.ViewOption
	Release func()
}

// NewView builds a view of the table on brokers. Storage defaults to
// memory (the table is recovered from Kafka when Run starts).
func NewView(brokers []string, o ViewOptions) (*View, error) {
	opts := append([]goka.ViewOption{goka.WithViewStorageBuilder(storage.MemoryBuilder())}, o.Options...)
	v, err := goka.NewView(brokers, Table, StateCodec{}, opts...)
	if err != nil {
		if o.Release != nil {
			o.Release()
		}
		return nil, fmt.Errorf("aggregator: new view: %w", err)
	}
	return &View{v: v, release: o.Release}, nil
}

// Run keeps the view up to date until ctx ends.
func (v *View) Run(ctx context.Context) error {
	defer func() {
		if v.release != nil {
			v.release()
		}
	}()
	if err := v.v.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("aggregator: view: %w", err)
	}
	return nil
}

// Ready reports whether the view has recovered the table and is serving
// current values.
func (v *View) Ready() bool { return v.v.CurrentState() == goka.ViewStateRunning }

// ErrNotReady is returned by Get while the view is still recovering.
var ErrNotReady = errors.New("aggregator: view is recovering")

// Get returns userID's aggregate; a user without data gets one with no
// accounts.
func (v *View) Get(userID string) (*topics.UserAggregate, error) {
	if !v.Ready() {
		return nil, ErrNotReady
	}
	val, err := v.v.Get(userID)
	if err != nil {
		return nil, fmt.Errorf("aggregator: view get: %w", err)
	}
	st, _ := val.(*State)
	if st == nil {
		st = &State{}
	}
	return st.Aggregate(userID), nil
}
