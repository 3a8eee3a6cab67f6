package kafka

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// TestTopicsCreatedTogether has several topic managers (as several
// processes starting at once would) ensure the same new table and stream
// on one broker at the same moment: each of them must succeed, whichever
// creates the topic.
func TestTopicsCreatedTogether(t *testing.T) {
	b, err := StartBroker(BrokerConfig{Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	g := NewGoka(b.Addrs(), 1)
	const managers = 8
	var tms []goka.TopicManager
	for range managers {
		tm, err := g.TopicManagerBuilder()(b.Addrs())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tm.Close() })
		tms = append(tms, tm)
	}
	for _, ensure := range []struct {
		name string
		call func(tm goka.TopicManager) error
	}{
		{"table", func(tm goka.TopicManager) error { return tm.EnsureTableExists("together-table", 6) }},
		{"stream", func(tm goka.TopicManager) error { return tm.EnsureStreamExists("together-stream", 6) }},
	} {
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, managers)
		for i, tm := range tms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = ensure.call(tm)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("%s: manager %d: %v", ensure.name, i, err)
			}
		}
	}
	parts, err := tms[0].Partitions("together-table")
	if err != nil || len(parts) != 6 {
		t.Fatalf("together-table partitions %v, %v; want 6", parts, err)
	}
}

// scripted is a goka.TopicManager whose ensure calls return errs in turn.
type scripted struct {
	goka.TopicManager
	errs  []error
	calls int
}

func (s *scripted) EnsureTableExists(string, int) error {
	s.calls++
	if len(s.errs) == 0 {
		return nil
	}
	err := s.errs[0]
	s.errs = s.errs[1:]
	return err
}

func TestCreatedElsewhereRetriesOnlyThatError(t *testing.T) {
	defer func(w time.Duration) { createdElsewhereWait = w }(createdElsewhereWait)
	createdElsewhereWait = time.Millisecond
	exists := fmt.Errorf("error creating topic t, npar=6, rfactor=1, config=map[string]string{}: %v", sarama.ErrTopicAlreadyExists)
	other := errors.New("error checking topic: broker down")
	for _, tc := range []struct {
		name      string
		errs      []error
		wantErr   error
		wantCalls int
	}{
		{"created at once", nil, nil, 1},
		{"created elsewhere, seen on the next check", []error{exists}, nil, 2},
		{"created elsewhere, metadata late", []error{exists, exists, exists}, nil, 4},
		{"another error is returned as it is", []error{other}, other, 1},
		{"created elsewhere, then another error", []error{exists, other}, other, 2},
		{"never seen", []error{exists, exists, exists, exists, exists, exists, exists, exists, exists, exists, exists, exists}, exists, createdElsewhereRetries + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{errs: tc.errs}
			err := concurrentTopicManager{s}.EnsureTableExists("t", 6)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if s.calls != tc.wantCalls {
				t.Errorf("%d calls, want %d", s.calls, tc.wantCalls)
			}
		})
	}
}
