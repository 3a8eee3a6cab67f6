package aggregator

import (
	"context"
	"errors"
	"fmt"
	"sync"

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

	mu   sync.Mutex
	subs map[string]map[chan *topics.UserAggregate]struct{} // by user ID
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
	view := &View{release: o.Release, subs: map[string]map[chan *topics.UserAggregate]struct{}{}}
	opts := append([]goka.ViewOption{goka.WithViewStorageBuilder(storage.MemoryBuilder())}, o.Options...)
	opts = append(opts, goka.WithViewCallback(view.update))
	v, err := goka.NewView(brokers, Table, StateCodec{}, opts...)
	if err != nil {
		if o.Release != nil {
			o.Release()
		}
		return nil, fmt.Errorf("aggregator: new view: %w", err)
	}
	view.v = v
	return view, nil
}

// update stores a table update and tells the user's subscribers.
func (v *View) update(ctx goka.UpdateContext, s storage.Storage, key string, value []byte) error {
	if err := goka.DefaultUpdate(ctx, s, key, value); err != nil {
		return err
	}
	v.mu.Lock()
	subs := v.subs[key]
	if len(subs) == 0 {
		v.mu.Unlock()
		return nil
	}
	chans := make([]chan *topics.UserAggregate, 0, len(subs))
	for ch := range subs {
		chans = append(chans, ch)
	}
	v.mu.Unlock()
	st := &State{}
	if value != nil {
		dec, err := StateCodec{}.Decode(value)
		if err != nil {
			return nil // a bad value must not stop the view; Get reports it
		}
		st = dec.(*State)
	}
	agg := st.Aggregate(key)
	for _, ch := range chans {
		// Latest wins: drop an unread older value rather than block the view.
		select {
		case <-ch:
		default:
		}
		select {
		case ch <- agg:
		default:
		}
	}
	return nil
}

// Subscribe returns a channel receiving userID's aggregate after every
// change (only the latest is kept if the reader falls behind), and a
// function that ends the subscription. The channel is never closed.
func (v *View) Subscribe(userID string) (<-chan *topics.UserAggregate, func()) {
	ch := make(chan *topics.UserAggregate, 1)
	v.mu.Lock()
	if v.subs[userID] == nil {
		v.subs[userID] = map[chan *topics.UserAggregate]struct{}{}
	}
	v.subs[userID][ch] = struct{}{}
	v.mu.Unlock()
	return ch, func() {
		v.mu.Lock()
		delete(v.subs[userID], ch)
		if len(v.subs[userID]) == 0 {
			delete(v.subs, userID)
		}
		v.mu.Unlock()
	}
}

// Recovered reports whether the view has read its table up to date.
func (v *View) Recovered() bool { return v.v.Recovered() }

// Subscriptions returns how many subscriptions are open.
func (v *View) Subscriptions() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, s := range v.subs {
		n += len(s)
	}
	return n
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
