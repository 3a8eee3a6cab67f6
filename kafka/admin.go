package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrGroupActive is returned when a consumer group's offsets cannot be
// reset because the group has members: stop its consumers first.
var ErrGroupActive = errors.New("kafka: consumer group has active members")

// ResetTarget is where a group's offsets are moved to: the start of each
// partition, the first record at or after a time, or one offset for every
// partition.
type ResetTarget struct {
	Earliest bool
	Time     time.Time
	Offset   int64 // used when neither Earliest nor Time is set
}

// ParseResetTarget parses "earliest", an RFC 3339 time, or a non-negative
// offset.
func ParseResetTarget(s string) (ResetTarget, error) {
	switch {
	case s == "earliest":
		return ResetTarget{Earliest: true}, nil
	case strings.Contains(s, "T"):
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return ResetTarget{}, fmt.Errorf("kafka: reset target %q: %w", s, err)
		}
		return ResetTarget{Time: t}, nil
	default:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return ResetTarget{}, fmt.Errorf("kafka: reset target %q: want earliest, an RFC 3339 time or an offset", s)
		}
		return ResetTarget{Offset: n}, nil
	}
}

func (t ResetTarget) String() string {
	switch {
	case t.Earliest:
		return "earliest"
	case !t.Time.IsZero():
		return t.Time.Format(time.RFC3339)
	}
	return strconv.FormatInt(t.Offset, 10)
}

// Admin wraps the admin operations Pulse's commands need.
type Admin struct {
	adm *kadm.Client
}

// NewAdmin connects an Admin to brokers. Close it when done.
func NewAdmin(brokers []string) (*Admin, error) {
	cl, err := NewClient(brokers)
	if err != nil {
		return nil, err
	}
	return &Admin{adm: kadm.NewClient(cl)}, nil
}

// Close closes the connection.
func (a *Admin) Close() { a.adm.Close() }

// GroupTopics returns the topics group has committed offsets for, sorted.
func (a *Admin) GroupTopics(ctx context.Context, group string) ([]string, error) {
	offs, err := a.adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("kafka: fetch offsets of %s: %w", group, err)
	}
	if err := offs.Error(); err != nil {
		return nil, fmt.Errorf("kafka: fetch offsets of %s: %w", group, err)
	}
	var out []string
	for t := range offs.Offsets() {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

// ResetGroup moves group's committed offsets on topics to target and returns
// the new offsets. The group must have no members (ErrGroupActive
// otherwise): offsets of a running group would be overwritten by its next
// commit. Partitions with no record at or after a target time move to the
// end.
func (a *Admin) ResetGroup(ctx context.Context, group string, topics []string, target ResetTarget) (map[string]map[int32]int64, error) {
	described, err := a.adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("kafka: describe group %s: %w", group, err)
	}
	if g, ok := described[group]; ok && len(g.Members) > 0 {
		return nil, fmt.Errorf("%w: %s has %d members (state %s)", ErrGroupActive, group, len(g.Members), g.State)
	}
	if len(topics) == 0 {
		return nil, fmt.Errorf("kafka: reset %s: no topics", group)
	}
	var listed kadm.ListedOffsets
	switch {
	case target.Earliest:
		listed, err = a.adm.ListStartOffsets(ctx, topics...)
	case !target.Time.IsZero():
		listed, err = a.adm.ListOffsetsAfterMilli(ctx, target.Time.UnixMilli(), topics...)
	default:
		listed, err = a.adm.ListEndOffsets(ctx, topics...)
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: list offsets: %w", err)
	}
	if err := listed.Error(); err != nil {
		return nil, fmt.Errorf("kafka: list offsets: %w", err)
	}
	offsets := make(kadm.Offsets)
	out := map[string]map[int32]int64{}
	listed.Each(func(l kadm.ListedOffset) {
		at := l.Offset
		if !target.Earliest && target.Time.IsZero() {
			at = min(target.Offset, l.Offset) // an offset past the end means the end
		}
		offsets.Add(kadm.Offset{Topic: l.Topic, Partition: l.Partition, At: at, LeaderEpoch: -1})
		if out[l.Topic] == nil {
			out[l.Topic] = map[int32]int64{}
		}
		out[l.Topic][l.Partition] = at
	})
	resp, err := a.adm.CommitOffsets(ctx, group, offsets)
	if err != nil {
		return nil, fmt.Errorf("kafka: commit offsets of %s: %w", group, err)
	}
	if err := resp.Error(); err != nil {
		return nil, fmt.Errorf("kafka: commit offsets of %s: %w", group, err)
	}
	return out, nil
}

// Lag returns how many records group has yet to consume on the topics it
// has committed offsets for, and how many members it has.
func (a *Admin) Lag(ctx context.Context, group string) (lag int64, members int, err error) {
	lags, err := a.adm.Lag(ctx, group)
	if err != nil {
		return 0, 0, fmt.Errorf("kafka: lag of %s: %w", group, err)
	}
	g, ok := lags[group]
	if !ok {
		return 0, 0, fmt.Errorf("kafka: lag of %s: group not found", group)
	}
	if err := g.Error(); err != nil {
		return 0, 0, fmt.Errorf("kafka: lag of %s: %w", group, err)
	}
	return g.Lag.Total(), len(g.Members), nil
}

// GroupMember is one member of a consumer group, as the coordinator
// describes it.
type GroupMember struct {
	MemberID string
	// InstanceID is the member's static group instance ID (KIP-345), ""
	// for a dynamic member.
	InstanceID string
	ClientID   string
	// Host is where the coordinator sees the member's connection from.
	Host string
}

// Members returns the members of group in the coordinator's order (none
// for an empty or unknown group) and the group's state ("Stable",
// "PreparingRebalance", ...).
func (a *Admin) Members(ctx context.Context, group string) ([]GroupMember, string, error) {
	described, err := a.adm.DescribeGroups(ctx, group)
	if err == nil {
		err = described.Error()
	}
	if err != nil {
		return nil, "", fmt.Errorf("kafka: describe %s: %w", group, err)
	}
	g := described[group]
	out := make([]GroupMember, 0, len(g.Members))
	for _, m := range g.Members {
		gm := GroupMember{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if m.InstanceID != nil {
			gm.InstanceID = *m.InstanceID
		}
		out = append(out, gm)
	}
	return out, g.State, nil
}

// EndOffsets returns the next offset to be written to each partition of
// topic.
func (a *Admin) EndOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	listed, err := a.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: end offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	listed.Each(func(l kadm.ListedOffset) { out[l.Partition] = l.Offset })
	return out, nil
}

// CommittedOffsets returns group's committed offsets on topic; partitions
// without a commit are absent.
func (a *Admin) CommittedOffsets(ctx context.Context, group, topic string) (map[int32]int64, error) {
	resp, err := a.adm.FetchOffsetsForTopics(ctx, group, topic)
	if err == nil {
		err = resp.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[int32]int64{}, nil // a group that never committed
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: committed offsets of %s on %s: %w", group, topic, err)
	}
	out := map[int32]int64{}
	for p, o := range resp.Offsets()[topic] {
		if o.At >= 0 {
			out[p] = o.At
		}
	}
	return out, nil
}

// CommitOffsets commits offsets (next offset to read, by partition) of
// topic for group, which must have no members.
func (a *Admin) CommitOffsets(ctx context.Context, group, topic string, offsets map[int32]int64) error {
	os := make(kadm.Offsets)
	for p, at := range offsets {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
	}
	resp, err := a.adm.CommitOffsets(ctx, group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("kafka: commit offsets of %s on %s: %w", group, topic, err)
	}
	return nil
}
