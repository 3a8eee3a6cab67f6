package vsim_test

import (
	"flag"
	"testing"
	"time"

	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/producers/scheduler/vsim"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

var (
	benchLinks = flag.Int("vsim.links", 1_000_000, "links in BenchmarkMillionLinks")
	benchHours = flag.Int("vsim.hours", 48, "simulated hours in BenchmarkMillionLinks")
	benchFull  = flag.Bool("vsim.fullposts", false, "BenchmarkMillionLinks reads every post at every fetch (no cursor), for comparison")
)

// TestSmallRunStaysWithinLimits runs two simulated days of a few thousand
// links, LinkedIn's app limit set so low that hourly demand exceeds it:
// the simulator counts no breach, the binding budget is used to at least
// 95 %, and a control run whose budget is raised past the simulator's
// limit is caught.
func TestSmallRunStaysWithinLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates two days")
	}
	links := map[topics.Platform]int{topics.X: 1500, topics.Facebook: 1000, topics.Instagram: 1000, topics.LinkedIn: 300}
	run := func(budget float64) *vsim.Report {
		limits := scheduler.DefaultLimits()
		limits[topics.LinkedIn] = scheduler.LinkedInLimits(budget, 2000)
		rep, err := vsim.Run(t.Context(), vsim.Config{Links: links, SharedEvery: 20, Limits: limits, RefreshesPerHour: 200, Seed: 1,
			Sim: sim.Config{LinkedIn: sim.LinkedInConfig{App: sim.Limit{Requests: 3000, Window: 24 * time.Hour}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("LinkedIn budget %v/day/endpoint, simulator limit 3000:\n%v", budget, rep)
		return rep
	}
	rep := run(3000)
	for p, pr := range rep.Platforms {
		if pr.Breaches != 0 {
			t.Errorf("%s: %d breaches", p, pr.Breaches)
		}
		if pr.Fetches == 0 {
			t.Errorf("%s: no fetch", p)
		}
	}
	li := rep.Platforms[topics.LinkedIn]
	if !li.DemandExceeds || li.BindingShare < 0.95 || li.BindingShare > 1 {
		t.Errorf("LinkedIn: demand exceeds %v, binding share %.3f, want >= 0.95", li.DemandExceeds, li.BindingShare)
	}
	// Accounts with room are fetched hourly: nothing waits much over an hour.
	for _, p := range []topics.Platform{topics.X, topics.Facebook, topics.Instagram} {
		if pr := rep.Platforms[p]; pr.MaxStaleness > 75*time.Minute {
			t.Errorf("%s: max staleness %v", p, pr.MaxStaleness)
		}
	}
	// LinkedIn's 291 accounts share 2,940 fetches a day: every ~2.4 h.
	if li.MaxStaleness > 4*time.Hour {
		t.Errorf("LinkedIn: max staleness %v", li.MaxStaleness)
	}

	ctl := run(4500)
	if ctl.Platforms[topics.LinkedIn].Breaches == 0 {
		t.Error("control: a budget past the limit caused no breach: the check cannot fail")
	}
}

// BenchmarkMillionLinks runs 1,000,000 links (-vsim.links) over 48
// simulated hours with the default limits, then a control run of the
// LinkedIn links with LinkedIn's budget raised past its limit. Fetches
// read their posts from each account's cursor, with the decaying refresh
// (-vsim.fullposts: every post at every fetch, the cost before cursors).
// It reports CPU seconds per simulated day: sched-cpu-s (the scheduler,
// its MemStore and the garbage collector: the goal of < 10 s), sim-cpu-s
// (the simulator's side of the fetches, timed on the run's thread) and
// process-cpu-s (both). Run it once:
//
//	go test -run '^$' -bench MillionLinks -benchtime 1x ./producers/scheduler/vsim/
func BenchmarkMillionLinks(b *testing.B) {
	n := *benchLinks
	links := map[topics.Platform]int{
		topics.X: n * 35 / 100, topics.Facebook: n * 30 / 100, topics.Instagram: n * 29 / 100, topics.LinkedIn: n * 6 / 100,
	}
	for b.Loop() {
		rep, err := vsim.Run(b.Context(), vsim.Config{Links: links, SharedEvery: 50, RefreshesPerHour: 2000, Seed: 1,
			Duration: time.Duration(*benchHours) * time.Hour, FullPosts: *benchFull})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%d links, default limits:\n%v", n, rep)
		var breaches int64
		worst := time.Duration(0)
		for _, pr := range rep.Platforms {
			breaches += pr.Breaches
			worst = max(worst, pr.MaxStaleness)
		}
		li := rep.Platforms[topics.LinkedIn]
		b.ReportMetric(float64(breaches), "breaches")
		b.ReportMetric(worst.Hours(), "max-stale-h")
		b.ReportMetric(li.BindingShare*100, "linkedin-budget-used-%")
		// The goal (< 10 s a day) is the scheduler's; the process's figure
		// adds the simulator's side of the fetches (metering their calls).
		b.ReportMetric(rep.SchedulerCPUPerDay().Seconds(), "sched-cpu-s/sim-day")
		b.ReportMetric(rep.SimCPUPerDay().Seconds(), "sim-cpu-s/sim-day")
		b.ReportMetric(rep.CPUPerDay().Seconds(), "process-cpu-s/sim-day")
		if breaches != 0 {
			b.Errorf("%d breaches", breaches)
		}

		limits := scheduler.DefaultLimits()
		limits[topics.LinkedIn] = scheduler.LinkedInLimits(150_000, 2000)
		ctl, err := vsim.Run(b.Context(), vsim.Config{Links: map[topics.Platform]int{topics.LinkedIn: links[topics.LinkedIn]},
			SharedEvery: 50, Limits: limits, Seed: 1, Duration: time.Duration(*benchHours) * time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("control, LinkedIn budget 150,000/day/endpoint against the limit of 100,000:\n%v", ctl)
		if ctl.Platforms[topics.LinkedIn].Breaches == 0 {
			b.Error("control: no breach")
		}
	}
}

// TestCursorCostsFewerCallsPerFetch runs the same links with full reads
// of the posts at every fetch (as before cursors) and with incremental
// reads plus the decaying refresh: the calls per fetch drop on every
// platform (on X, whose monthly cap meters posts, full reads leave most
// fetches without posts instead), about one fetch in twenty re-reads older
// posts, and nothing breaches.
func TestCursorCostsFewerCallsPerFetch(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates two days")
	}
	links := map[topics.Platform]int{topics.X: 400, topics.Facebook: 400, topics.Instagram: 400, topics.LinkedIn: 100}
	run := func(full bool) *vsim.Report {
		rep, err := vsim.Run(t.Context(), vsim.Config{Links: links, Seed: 2, FullPosts: full})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("full reads %v:\n%v", full, rep)
		return rep
	}
	full, inc := run(true), run(false)
	for p := range links {
		f, i := full.Platforms[p], inc.Platforms[p]
		if f.Breaches != 0 || i.Breaches != 0 {
			t.Errorf("%s: breaches %d full, %d incremental", p, f.Breaches, i.Breaches)
		}
		switch {
		case p == topics.X:
			// X meters posts: full reads of 500 posts spend the monthly
			// cap at once, and the fetches go on without their posts.
			if i.PostsSkipped*10 > f.PostsSkipped || f.PostsSkipped < f.Fetches/2 {
				t.Errorf("x: %d fetches without posts incremental, %d of %d full", i.PostsSkipped, f.PostsSkipped, f.Fetches)
			}
		case i.Fetches == 0 || i.CallsPerFetch() >= f.CallsPerFetch():
			t.Errorf("%s: %.2f calls per fetch incremental, %.2f full", p, i.CallsPerFetch(), f.CallsPerFetch())
		}
		// Hourly fetches; a 7-day re-read a day, a 30-day one a week.
		if share := float64(i.Rereads) / float64(i.Fetches); p != topics.X && (share < 0.03 || share > 0.08) {
			t.Errorf("%s: %d re-reads in %d fetches", p, i.Rereads, i.Fetches)
		}
		if f.Rereads != f.Fetches {
			t.Errorf("%s: full reads: %d of %d fetches re-read", p, f.Rereads, f.Fetches)
		}
	}
}
