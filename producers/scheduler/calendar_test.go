package scheduler

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// calendarModel is what a calendar must do, kept naively: every queued
// entry with its due second.
type calendarModel map[entry]int64

// popAll pops everything due at now (no limit) and checks it against the
// model: each entry once, none early, none due left behind, in due order
func popAll(t *testing.T, c *calendar, m calendarModel, now int64) []int32 {
	t.Helper()
	var got []entry
	out := c.pop(now, 1<<30, func(e entry) bool { got = append(got, e); return true }, nil)
	last := int64(0)
	for _, e := range got {
		due, ok := m[e]
		switch {
		case !ok:
			t.Fatalf("at %d: popped %v, not queued (or popped before)", now, e)
		case due > now:
			t.Fatalf("at %d: popped %v due at %d", now, e, due)
		case due < last:
			t.Fatalf("at %d: popped %v due at %d after one due at %d", now, e, due, last)
		}
		last = max(last, due)
		delete(m, e)
	}
	for e, due := range m {
		if due <= now {
			t.Fatalf("at %d: %v due at %d was not popped", now, e, due)
		}
	}
	return out
}

// TestCalendarAgainstAModel queues entries at random seconds around a
// moving now (overdue by up to a day, due within the wheel's span, due
// beyond it) and pops them: every entry comes out once, at or after its
// second, in due order, and nothing due stays behind.
func TestCalendarAgainstAModel(t *testing.T) {
	for _, tc := range []struct {
		name          string
		back, forward int64 // how far from now entries are queued, seconds
		step          int64 // how far now moves between pops, at most
	}{
		{"near, second by second", 60, 3600, 1},
		{"overdue by hours, big steps", 20 * 3600, 3600, 900},
		{"beyond the wheel", 60, 3 * wheelSize, 4 * 3600},
		{"everything", 30 * 3600, 3 * wheelSize, 7200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.step)))
			var c calendar
			m := calendarModel{}
			now := int64(1_800_000_000)
			seq := uint32(0)
			for round := range 3000 {
				for range rng.IntN(20) {
					seq++
					sec := now - tc.back + rng.Int64N(tc.back+tc.forward)
					e := entry{int32(round), seq}
					c.push(sec, e)
					m[e] = sec
				}
				popAll(t, &c, m, now)
				now += 1 + rng.Int64N(tc.step)
			}
			popAll(t, &c, m, now+4*wheelSize)
			if len(m) != 0 || c.n != 0 || len(c.far) != 0 || len(c.early) != 0 {
				t.Fatalf("left: model %d, wheel %d, far %d, early %d", len(m), c.n, len(c.far), len(c.early))
			}
			for i, w := range c.occ {
				if w != 0 {
					t.Fatalf("occupancy word %d is %x with the wheel empty", i, w)
				}
			}
		})
	}
}

// TestCalendarPops checks pop's order and limit in the cases that matter:
// one second's entries in the order queued, a limit splitting a bucket,
// catching up after the cursor moved back hours, far entries coming into
// reach, and dead entries skipped.
func TestCalendarPops(t *testing.T) {
	const t0 = 1_800_000_000
	type push struct {
		sec int64
		i   int32
	}
	type pop struct {
		now   int64
		limit int
		want  []int32
	}
	for _, tc := range []struct {
		name   string
		pushes []push
		dead   []int32 // entries valid rejects
		pops   []pop
	}{
		{"one second in queue order", []push{{t0, 1}, {t0, 2}, {t0 - 5, 3}, {t0, 4}}, nil,
			[]pop{{t0, 10, []int32{3, 1, 2, 4}}}},
		{"a limit splits a bucket", []push{{t0, 1}, {t0, 2}, {t0, 3}, {t0 + 1, 4}}, nil,
			[]pop{{t0 + 1, 2, []int32{1, 2}}, {t0 + 1, 1, []int32{3}}, {t0 + 1, 5, []int32{4}}, {t0 + 1, 5, nil}}},
		{"not before its second", []push{{t0, 1}, {t0 + 100, 2}}, nil,
			[]pop{{t0 + 99, 10, []int32{1}}, {t0 + 100, 10, []int32{2}}}},
		{"back hours, then caught up", []push{{t0, 1}, {t0 + 60, 2}, {t0 - 16*3600, 3}, {t0 - 3600, 4}}, nil,
			[]pop{{t0 + 30, 10, []int32{3, 4, 1}}, {t0 + 59, 10, nil}, {t0 + 60, 10, []int32{2}}}},
		{"far entries come into reach", []push{{t0, 1}, {t0 + wheelSize + 10, 2}, {t0 + 3*wheelSize, 3}, {t0 + 2*wheelSize, 4}}, nil,
			[]pop{{t0, 10, []int32{1}}, {t0 + wheelSize + 9, 10, nil}, {t0 + 3*wheelSize, 10, []int32{2, 4, 3}}}},
		{"overdue behind a wheel that reaches far ahead", []push{{t0 + 20*3600, 1}, {t0 + 1000, 2}, {t0 - 3600, 3}, {t0 - 7200, 4}}, nil,
			[]pop{{t0, 10, []int32{4, 3}}, {t0 + 1000, 10, []int32{2}}, {t0 + 20*3600, 10, []int32{1}}}},
		{"dead entries are skipped", []push{{t0, 1}, {t0, 2}, {t0 + 1, 3}}, []int32{2},
			[]pop{{t0 + 1, 2, []int32{1, 3}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c calendar
			for k, p := range tc.pushes {
				c.push(p.sec, entry{p.i, uint32(k)})
			}
			valid := func(e entry) bool { return !slices.Contains(tc.dead, e.i) }
			for _, p := range tc.pops {
				if got := c.pop(p.now, p.limit, valid, nil); !slices.Equal(got, p.want) {
					t.Fatalf("pop(%d, %d) = %v, want %v", p.now-t0, p.limit, got, p.want)
				}
			}
		})
	}
}

// TestMemStoreLeases: a claimed account is not due again while its lease
// runs; one never rescheduled is due when the lease ends (and claimed
// with its refresh still pending), one rescheduled is due when
// rescheduled; the lease list empties once nothing is claimed, so
// rescheduled claims leave no entry behind.
func TestMemStoreLeases(t *testing.T) {
	ctx := t.Context()
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	m := NewMemStore()
	for _, id := range []string{"a", "b", "c"} {
		m.AddLink(topics.X, id, "l-"+id, "u", base)
	}
	if err := m.RequestRefresh(topics.X, "c", base); err != nil {
		t.Fatal(err)
	}
	claim := func(at time.Duration, want ...string) []Due {
		t.Helper()
		due, err := m.ClaimDue(ctx, topics.X, base.Add(at), 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range due {
			got = append(got, d.AccountID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("at +%v claimed %v, want %v", at, got, want)
		}
		return due
	}
	due := claim(0, "c", "a", "b")
	if due[0].RefreshAt.IsZero() {
		t.Fatal("c's refresh is not pending")
	}
	mp := m.plats[topics.X]
	if len(mp.leases) != 3 || mp.nclaimed != 3 {
		t.Fatalf("%d leases, %d claimed, want 3", len(mp.leases), mp.nclaimed)
	}
	// a is rescheduled an hour out; b and c never are.
	if err := m.Reschedule(ctx, topics.X, []Next{{AccountID: "a", At: base.Add(time.Hour), Claimed: base, Key: due[1].Key}}); err != nil {
		t.Fatal(err)
	}
	claim(59 * time.Second)
	due = claim(time.Minute, "c", "b")
	if due[0].RefreshAt.IsZero() {
		t.Fatal("c's refresh is no longer pending after its lease ended")
	}
	if err := m.Reschedule(ctx, topics.X, []Next{
		{AccountID: "c", At: base.Add(time.Hour), Served: due[0].RefreshAt, Claimed: base.Add(time.Minute), Key: due[0].Key},
		{AccountID: "b", At: base.Add(2 * time.Hour), Claimed: base.Add(time.Minute), Key: due[1].Key},
	}); err != nil {
		t.Fatal(err)
	}
	claim(30 * time.Minute)
	if len(mp.leases) != 0 || mp.nclaimed != 0 {
		t.Fatalf("%d leases, %d claimed after every claim was rescheduled", len(mp.leases), mp.nclaimed)
	}
	claim(time.Hour, "a", "c")
	// a and c were not rescheduled: due again since their leases ended.
	claim(2*time.Hour, "a", "c", "b")
}
