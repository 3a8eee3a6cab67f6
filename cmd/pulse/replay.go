package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pulsehq/pulse/dlq"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/topics"
)

// runReplay resets a stopped consumer group's offsets, then (with --watch)
// reports the group's progress and ETA once its consumers are started again.
func runReplay(ctx context.Context, args []string) error {
	fs := newFlagSet("replay")
	var k kafkaFlags
	var group, to, topicList string
	var watch bool
	k.register(fs)
	fs.StringVar(&group, "group", "", "consumer group to replay: "+strings.Join([]string{topics.GroupFetcher, topics.GroupNormalizer, topics.GroupAggregator, topics.GroupSink}, ", "))
	fs.StringVar(&to, "to", "earliest", "where to move the offsets: earliest, an RFC 3339 time, or an offset")
	fs.StringVar(&topicList, "topics", "", "comma-separated topics to reset; default every topic the group has committed offsets for")
	fs.BoolVar(&watch, "watch", true, "after resetting, show progress and ETA until the group has caught up")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if group == "" {
		return errors.New("--group is required")
	}
	target, err := kafka.ParseResetTarget(to)
	if err != nil {
		return err
	}
	adm, err := kafka.NewAdmin(k.list())
	if err != nil {
		return err
	}
	defer adm.Close()
	var ts []string
	if topicList != "" {
		ts = kafka.ParseBrokers(topicList) // same comma-list syntax
	} else if ts, err = adm.GroupTopics(ctx, group); err != nil {
		return err
	}
	if len(ts) == 0 {
		return fmt.Errorf("group %s has no committed offsets; name the topics with --topics", group)
	}
	offsets, err := adm.ResetGroup(ctx, group, ts, target)
	if err != nil {
		if errors.Is(err, kafka.ErrGroupActive) {
			return fmt.Errorf("%w; stop the group's consumers and run replay again", err)
		}
		return err
	}
	for _, t := range ts {
		fmt.Fprintf(os.Stderr, "reset %s on %s to %s: %v\n", group, t, target, offsets[t])
	}
	if !watch {
		return nil
	}
	fmt.Fprintf(os.Stderr, "start the group's consumers again; watching progress (Ctrl-C stops watching, not the replay)\n")
	return watchLag(ctx, adm, group)
}

// watchLag prints a group's remaining records, rate and ETA every second
// until it has caught up or ctx ends.
func watchLag(ctx context.Context, adm *kafka.Admin, group string) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var (
		start           = time.Now()
		startLag  int64 = -1
		lastPrint time.Time
	)
	for {
		lag, members, err := adm.Lag(ctx, group)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if startLag < 0 {
			startLag = lag
		}
		if members > 0 && lag == 0 {
			fmt.Fprintf(os.Stderr, "%s caught up: %d records in %s\n", group, startLag, time.Since(start).Round(time.Second))
			return nil
		}
		if time.Since(lastPrint) >= time.Second {
			done := startLag - lag
			eta := "unknown"
			if el := time.Since(start).Seconds(); done > 0 && el > 0 {
				eta = time.Duration(float64(lag) / (float64(done) / el) * float64(time.Second)).Round(time.Second).String()
			}
			fmt.Fprintf(os.Stderr, "%s: %d members, %d/%d records processed, %d remaining, ETA %s\n", group, members, done, startLag, lag, eta)
			lastPrint = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// runDLQ handles `pulse dlq list` and `pulse dlq redrive`.
func runDLQ(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "redrive") {
		return errors.New("usage: pulse dlq list|redrive [flags]")
	}
	sub := args[0]
	fs := newFlagSet("dlq")
	var k kafkaFlags
	var reason, source string
	var since time.Duration
	var limit int
	var dryRun bool
	k.register(fs)
	fs.StringVar(&reason, "reason", "", "only dead letters whose reason contains this text")
	fs.StringVar(&source, "source-topic", "", "only dead letters from this topic")
	fs.DurationVar(&since, "since", 0, "only dead letters younger than this (0: all)")
	fs.IntVar(&limit, "limit", 1000, "at most this many dead letters")
	fs.BoolVar(&dryRun, "dry-run", false, "redrive: show what would be re-published without publishing")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	f := dlq.Filter{Reason: reason, SourceTopic: source, Limit: limit}
	if since > 0 {
		f.Since = time.Now().Add(-since)
	}
	if sub == "list" {
		return dlq.List(ctx, k.list(), f, func(l dlq.Letter) {
			fmt.Printf("%d/%d\t%s\t%s[%d]@%d\tkey=%s\t%s\n", l.Partition, l.Offset, l.At.Format(time.RFC3339),
				l.SourceTopic, l.DeadLetter.Partition, l.DeadLetter.Offset, l.Key, l.Reason)
		})
	}
	n, err := dlq.Redrive(ctx, k.list(), f, dryRun, func(l dlq.Letter) {
		fmt.Printf("redrive %s[%d]@%d key=%s: %s\n", l.SourceTopic, l.DeadLetter.Partition, l.DeadLetter.Offset, l.Key, l.Reason)
	})
	fmt.Fprintf(os.Stderr, "redrove %d dead letters (dry run: %v)\n", n, dryRun)
	return err
}
