package scheduler

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pulsehq/pulse/topics"
)

// nextDueByTime is NextDue as time arithmetic: the reference nextDue's
// integer arithmetic must match.
func nextDueByTime(account string, now time.Time, iv, spacing time.Duration) time.Time {
	next := now.Truncate(iv).Add(slot(account, iv))
	for !next.After(now.Add(spacing)) {
		next = next.Add(iv)
	}
	return next
}

// TestNextDueMatchesTimeArithmetic: NextDue's integer arithmetic gives
// the time arithmetic's answer for intervals that divide a day and ones
// that do not (time.Truncate counts from the zero Time, not the Unix
// epoch), spacings shorter and longer than the interval, and times on
// and around slot boundaries.
func TestNextDueMatchesTimeArithmetic(t *testing.T) {
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name         string
		iv, spacing  time.Duration
		before, span time.Duration // now in [base-before, base-before+span)
	}{
		{"hourly, no spacing", time.Hour, 0, 0, 48 * time.Hour},
		{"hourly, X's spacing", time.Hour, 12*time.Second + 328767123, 0, 48 * time.Hour},
		{"7 minutes (not a divisor of a day)", 7 * time.Minute, 55 * time.Second, 0, 5 * time.Hour},
		{"spacing longer than the interval", 10 * time.Minute, 25 * time.Minute, 0, 5 * time.Hour},
		{"a day and a second", 24*time.Hour + time.Second, time.Minute, 0, 30 * 24 * time.Hour},
		{"before the Unix epoch", time.Hour, time.Minute, base.Sub(time.Unix(0, 0)) + 1000*time.Hour, 2000 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pp := &platformPlan{lim: Limits{Interval: tc.iv}, spacing: tc.spacing}
			epoch := time.Unix(0, 0)
			pp.phase = int64(epoch.Sub(epoch.Truncate(tc.iv)))
			rng := rand.New(rand.NewPCG(3, uint64(tc.iv)))
			for i := range 5000 {
				account := "acct-" + strconv.Itoa(i)
				now := base.Add(-tc.before + time.Duration(rng.Int64N(int64(tc.span))))
				if i%3 == 0 { // on a slot boundary, and just around it
					now = nextDueByTime(account, now, tc.iv, 0).Add(time.Duration(i%9/3-1) * time.Nanosecond)
				}
				want := nextDueByTime(account, now, tc.iv, tc.spacing)
				if got := time.Unix(0, pp.nextDue(accountKey(account), now.UnixNano())); !got.Equal(want) {
					t.Fatalf("%s at %v: %v, want %v", account, now, got, want)
				}
			}
		})
	}
}

// TestAdmitDueDecidesAsAdmitFetch: AdmitDue, the batch the scheduler
// uses, decides as AdmitFetch and NextDue one by one on a twin planner
// (spending, spacing, the posts cap), and passes over accounts without
// links without spending.
func TestAdmitDueDecidesAsAdmitFetch(t *testing.T) {
	limits := DefaultLimits()
	for i, s := range limits[topics.X].Scopes {
		if s.SkipPosts {
			limits[topics.X].Scopes[i].Limit = 3100
		}
	}
	batch, err := NewPlanner(limits)
	if err != nil {
		t.Fatal(err)
	}
	single, _ := NewPlanner(limits)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var decs []Decision
	for round := range 50 {
		for _, p := range []topics.Platform{topics.X, topics.Instagram, topics.LinkedIn} {
			var due []Due
			for i := range 40 {
				d := Due{AccountID: strconv.Itoa((round*7 + i) % 60), Links: []DueLink{{LinkID: "l"}}}
				if i%13 == 0 {
					d.Links = nil
				}
				due = append(due, d)
			}
			decs = batch.AdmitDue(p, due, now, decs[:0])
			if len(decs) != len(due) {
				t.Fatalf("%d decisions for %d accounts", len(decs), len(due))
			}
			for k, d := range due {
				if len(d.Links) == 0 {
					if decs[k] != (Decision{}) {
						t.Fatalf("an account without links: %+v", decs[k])
					}
					continue
				}
				want := Decision{Admission: single.AdmitFetch(p, d.AccountID, now)}
				if want.OK {
					want.Next = single.NextDue(p, d.AccountID, now)
				}
				if got := decs[k]; got.OK != want.OK || got.SkipPosts != want.SkipPosts || !got.At.Equal(want.At) || !got.Next.Equal(want.Next) {
					t.Fatalf("%s round %d account %s: %+v, want %+v", p, round, d.AccountID, got, want)
				}
			}
		}
		now = now.Add(7 * time.Second)
	}
	b, _ := batch.Stats(now)
	s, _ := single.Stats(now)
	for i := range b {
		if b[i].Spent != s[i].Spent {
			t.Fatalf("%s %s: spent %v in batches, %v one by one", b[i].Platform, b[i].Scope, b[i].Spent, s[i].Spent)
		}
	}
}

// TestFormatUUID: formatUUID lays 128 random bits out as encoding/hex and
// the uuid package would, with the version and variant set.
func TestFormatUUID(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, bits := range [][2]uint64{{0, 0}, {^uint64(0), ^uint64(0)}, {0x0123456789abcdef, 0xfedcba9876543210}, {rng.Uint64(), rng.Uint64()}} {
		var u [uuidLen]byte
		formatUUID(&u, bits[0], bits[1])
		var raw [16]byte
		binary.BigEndian.PutUint64(raw[:8], bits[0])
		binary.BigEndian.PutUint64(raw[8:], bits[1])
		raw[6] = raw[6]&0x0f | 0x40
		raw[8] = raw[8]&0x3f | 0x80
		want := uuid.UUID(raw).String()
		if got := string(u[:]); got != want || hex.EncodeToString(raw[:4]) != got[:8] {
			t.Fatalf("formatUUID(%x, %x) = %s, want %s", bits[0], bits[1], got, want)
		}
	}
}

// TestStateTableAgainstAModel: the planner's state table answers as a map
// of the states that still constrain, while keys come and go at the rates
// of the platforms' spacing (many short-lived states, a few long pauses,
// colliding clusters from a tiny key space), and stays small: its slots
// are reused or dropped once their states no longer constrain.
func TestStateTableAgainstAModel(t *testing.T) {
	for _, tc := range []struct {
		name     string
		iv       uint64 // the Interval: keys' places are key % iv
		keys     uint64 // keys drawn from [0, keys)
		perStep  int    // puts per step
		spacing  int64  // a put constrains for this long
		longEach int    // every longEach-th put constrains 100× longer
	}{
		{"X-like", uint64(time.Hour), 1 << 40, 95, 12, 1000},
		{"Instagram-like", uint64(time.Hour), 1 << 40, 80, 55, 500},
		{"few keys, updated often", uint64(time.Hour), 300, 50, 30, 7},
		{"key 0 and 1", uint64(time.Hour), 2, 3, 5, 2},
		{"places crowded: a tiny interval", 7, 1 << 40, 80, 20, 50},
		{"a day's interval", uint64(24 * time.Hour), 1 << 40, 80, 20, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, tc.keys))
			tab := newStateTable(minStateSlots, time.Duration(tc.iv))
			model := map[uint64]accountState{}
			puts := 0
			for now := int64(1); now < 2000; now++ {
				for range tc.perStep {
					key := rng.Uint64N(tc.keys)
					if rng.IntN(3) == 0 { // look one up
						got, ok := tab.get(key)
						want, wok := model[max(key, 1)]
						live := wok && want.until() > now
						if (ok && got.until() > now) != live || (live && got != want) {
							t.Fatalf("at %d: get(%d) = %+v, %v; model %+v, %v", now, key, got, ok, want, wok)
						}
						continue
					}
					puts++
					st := accountState{next: now + tc.spacing}
					if puts%tc.longEach == 0 {
						st.paused = now + 100*tc.spacing
					}
					tab.put(key, st, now)
					model[max(key, 1)] = st
				}
				if now%97 == 0 {
					live := 0
					for _, st := range model {
						if st.until() > now {
							live++
						}
					}
					if got := tab.constraining(now); got != live {
						t.Fatalf("at %d: %d states constrain, model %d", now, got, live)
					}
					if len(tab.slots) > max(minStateSlots, 16*(live+1)) {
						t.Fatalf("at %d: %d slots for %d live states", now, len(tab.slots), live)
					}
				}
			}
		})
	}
}
