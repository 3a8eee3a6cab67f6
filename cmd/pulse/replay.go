package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pulsehq/pulse/dlq"
	"github.com/pulsehq/pulse/kafka"
)

// replayCmd resets a stopped consumer group's offsets, then (with --watch)
// reports the group's progress and ETA once its consumers are started again.
type replayCmd struct {
	KafkaFlags
	Group  string `name:"group" env:"PULSE_REPLAY_GROUP" required:"" help:"consumer group to replay: ${groups}"`
	To     string `name:"to" env:"PULSE_REPLAY_TO" default:"earliest" help:"where to move the offsets: earliest, an RFC 3339 time, or an offset"`
	Topics string `name:"topics" env:"PULSE_REPLAY_TOPICS" help:"comma-separated topics to reset; default every topic the group has committed offsets for"`
	Watch  bool   `name:"watch" env:"PULSE_REPLAY_WATCH" default:"true" negatable:"" help:"after resetting, show progress and ETA until the group has caught up"`
}

func (c *replayCmd) Validate() error {
	if _, err := kafka.ParseResetTarget(c.To); err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	return nil
}

func (c *replayCmd) Run(e *runEnv) error {
	ctx, group := e.ctx, c.Group
	target, err := kafka.ParseResetTarget(c.To)
	if err != nil {
		return err
	}
	adm, err := kafka.NewAdmin(kafka.ParseBrokers(c.Brokers))
	if err != nil {
		return err
	}
	defer adm.Close()
	var ts []string
	if c.Topics != "" {
		ts = kafka.ParseBrokers(c.Topics) // same comma-list syntax
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
		fmt.Fprintf(e.stderr, "reset %s on %s to %s: %v\n", group, t, target, offsets[t])
	}
	if !c.Watch {
		return nil
	}
	fmt.Fprintf(e.stderr, "start the group's consumers again; watching progress (Ctrl-C stops watching, not the replay)\n")
	return watchLag(ctx, e.stderr, adm, group)
}

// watchLag prints a group's remaining records, rate and ETA every second
// until it has caught up or ctx ends.
func watchLag(ctx context.Context, w io.Writer, adm *kafka.Admin, group string) error {
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
			fmt.Fprintf(w, "%s caught up: %d records in %s\n", group, startLag, time.Since(start).Round(time.Second))
			return nil
		}
		if time.Since(lastPrint) >= time.Second {
			done := startLag - lag
			eta := "unknown"
			if el := time.Since(start).Seconds(); done > 0 && el > 0 {
				eta = time.Duration(float64(lag) / (float64(done) / el) * float64(time.Second)).Round(time.Second).String()
			}
			fmt.Fprintf(w, "%s: %d members, %d/%d records processed, %d remaining, ETA %s\n", group, members, done, startLag, lag, eta)
			lastPrint = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// dlqCmd handles `pulse dlq list` and `pulse dlq redrive`.
type dlqCmd struct {
	List    dlqListCmd    `cmd:"" help:"Show dead letters."`
	Redrive dlqRedriveCmd `cmd:"" help:"Re-publish the matching dead letters to their source topic, each once."`
}

// dlqFilter selects dead letters.
type dlqFilter struct {
	KafkaFlags
	Reason      string        `name:"reason" env:"PULSE_DLQ_REASON" help:"only dead letters whose reason contains this text"`
	SourceTopic string        `name:"source-topic" env:"PULSE_DLQ_SOURCE_TOPIC" help:"only dead letters from this topic"`
	Since       time.Duration `name:"since" env:"PULSE_DLQ_SINCE" default:"0" help:"only dead letters younger than this (0: all)"`
	Limit       int           `name:"limit" env:"PULSE_DLQ_LIMIT" default:"1000" help:"at most this many dead letters"`
}

func (f dlqFilter) Validate() error {
	if f.Since < 0 {
		return fmt.Errorf("--since: %s is negative", f.Since)
	}
	if f.Limit <= 0 {
		return fmt.Errorf("--limit: %d is not positive", f.Limit)
	}
	return nil
}

func (f dlqFilter) filter() dlq.Filter {
	out := dlq.Filter{Reason: f.Reason, SourceTopic: f.SourceTopic, Limit: f.Limit}
	if f.Since > 0 {
		out.Since = time.Now().Add(-f.Since)
	}
	return out
}

type dlqListCmd struct{ dlqFilter }

func (c *dlqListCmd) Run(e *runEnv) error {
	return dlq.List(e.ctx, kafka.ParseBrokers(c.Brokers), c.filter(), func(l dlq.Letter) {
		fmt.Fprintf(e.stdout, "%d/%d\t%s\t%s[%d]@%d\tkey=%s\t%s\n", l.Partition, l.Offset, l.At.Format(time.RFC3339),
			l.SourceTopic, l.DeadLetter.Partition, l.DeadLetter.Offset, l.Key, l.Reason)
	})
}

type dlqRedriveCmd struct {
	dlqFilter
	DryRun bool `name:"dry-run" env:"PULSE_DLQ_DRY_RUN" help:"show what would be re-published without publishing"`
}

func (c *dlqRedriveCmd) Run(e *runEnv) error {
	n, err := dlq.Redrive(e.ctx, kafka.ParseBrokers(c.Brokers), c.filter(), c.DryRun, func(l dlq.Letter) {
		fmt.Fprintf(e.stdout, "redrive %s[%d]@%d key=%s: %s\n", l.SourceTopic, l.DeadLetter.Partition, l.DeadLetter.Offset, l.Key, l.Reason)
	})
	fmt.Fprintf(e.stderr, "redrove %d dead letters (dry run: %v)\n", n, c.DryRun)
	return err
}
