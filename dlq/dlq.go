// Package dlq reads and redrives Pulse's dead letters: records a component
// could not process, kept on topics.DeadLetters with the reason, the
// original bytes and where they came from.
package dlq

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/topics"
)

// RedriveGroup is the consumer group whose committed offsets on the
// dead-letter topic mark how far Redrive has got.
const RedriveGroup = "pulse-dlq-redrive"

// RedrivenHeader is set on redriven records; its value is the dead
// letter's "partition/offset".
const RedrivenHeader = "pulse-redriven-from"

// Filter selects dead letters. The zero Filter selects all.
type Filter struct {
	Reason      string    // reason contains this text
	SourceTopic string    // came from this topic
	Since       time.Time // dead-lettered at or after this time
	Limit       int       // at most this many; 0 means no limit
}

func (f Filter) match(d *topics.DeadLetter) bool {
	return strings.Contains(d.Reason, f.Reason) && (f.SourceTopic == "" || d.SourceTopic == f.SourceTopic) &&
		(f.Since.IsZero() || !d.At.Before(f.Since))
}

// Letter is a dead letter and where it sits on the dead-letter topic.
type Letter struct {
	*topics.DeadLetter
	Partition int32 // on topics.DeadLetters
	Offset    int64 // on topics.DeadLetters
}

// read calls fn for each dead letter from start (by partition; absent means
// 0) up to the topic's end as of the call, until fn returns false. It
// returns the offset after the last record read, by partition.
func read(ctx context.Context, adm *kafka.Admin, brokers []string, start map[int32]int64, fn func(Letter) bool) (map[int32]int64, error) {
	ends, err := adm.EndOffsets(ctx, topics.DeadLetters)
	if err != nil {
		return nil, err
	}
	next := map[int32]int64{}
	parts := map[int32]kgo.Offset{}
	for p, end := range ends {
		if s := start[p]; s < end {
			parts[p] = kgo.NewOffset().At(s)
		}
	}
	if len(parts) == 0 {
		return next, nil
	}
	cl, err := kafka.NewClient(brokers, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topics.DeadLetters: parts}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	for len(parts) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return next, err
		}
		stop := false
		fetches.EachRecord(func(r *kgo.Record) {
			if _, open := parts[r.Partition]; stop || !open {
				return
			}
			next[r.Partition] = r.Offset + 1
			if r.Offset+1 >= ends[r.Partition] {
				delete(parts, r.Partition)
			}
			d, err := topics.DeadLetterCodec.Unmarshal(r.Value)
			if err != nil {
				d = &topics.DeadLetter{Reason: "undecodable dead letter: " + err.Error(), Key: string(r.Key)}
			}
			stop = !fn(Letter{DeadLetter: d, Partition: r.Partition, Offset: r.Offset})
		})
		if stop {
			break
		}
	}
	return next, nil
}

// List calls fn for every dead letter matching f, oldest first within each
// partition.
func List(ctx context.Context, brokers []string, f Filter, fn func(Letter)) error {
	adm, err := kafka.NewAdmin(brokers)
	if err != nil {
		return err
	}
	defer adm.Close()
	n := 0
	_, err = read(ctx, adm, brokers, nil, func(l Letter) bool {
		if !f.match(l.DeadLetter) {
			return true
		}
		fn(l)
		n++
		return f.Limit == 0 || n < f.Limit
	})
	return err
}

// Redrive re-publishes the dead letters matching f to their source topics,
// with their original key and bytes and a RedrivenHeader, calling fn for
// each. It resumes after what earlier runs handled (RedriveGroup) and
// records its own progress after publishing, so a dead letter is redriven
// once; non-matching dead letters it passes over are not revisited. With
// dryRun it publishes and records nothing. It returns how many it redrove.
func Redrive(ctx context.Context, brokers []string, f Filter, dryRun bool, fn func(Letter)) (int, error) {
	adm, err := kafka.NewAdmin(brokers)
	if err != nil {
		return 0, err
	}
	defer adm.Close()
	start, err := adm.CommittedOffsets(ctx, RedriveGroup, topics.DeadLetters)
	if err != nil {
		return 0, err
	}
	prod, err := kafka.NewClient(brokers)
	if err != nil {
		return 0, err
	}
	defer prod.Close()
	var (
		n          int
		produceErr error
		failedAt   = map[int32]int64{}
	)
	next, err := read(ctx, adm, brokers, start, func(l Letter) bool {
		if !f.match(l.DeadLetter) || l.SourceTopic == "" {
			return true
		}
		if fn != nil {
			fn(l)
		}
		if !dryRun {
			rec := &kgo.Record{Topic: l.SourceTopic, Key: []byte(l.Key), Value: l.Value,
				Headers: []kgo.RecordHeader{{Key: RedrivenHeader, Value: fmt.Appendf(nil, "%d/%d", l.Partition, l.Offset)}}}
			if produceErr = prod.ProduceSync(ctx, rec).FirstErr(); produceErr != nil {
				failedAt[l.Partition] = l.Offset
				return false
			}
		}
		n++
		return f.Limit == 0 || n < f.Limit
	})
	if produceErr != nil {
		err = fmt.Errorf("dlq: redrive: %w", produceErr)
	}
	for p, off := range failedAt {
		next[p] = off // not redriven: the next run starts with it
	}
	if !dryRun && len(next) > 0 {
		if cerr := adm.CommitOffsets(ctx, RedriveGroup, topics.DeadLetters, next); cerr != nil && err == nil {
			err = cerr
		}
	}
	return n, err
}
