package main

import (
	"strings"
	"testing"
)

func TestParseAndRender(t *testing.T) {
	in := `goos: linux
BenchmarkReplay-2   	       1	     50000 bare-rows/s	 13.1 cpu-s	 8.75 goal-cpu-s	       751.3 payloads/s	         0.04281 ratio	      2500 rows/s
BenchmarkReplayEstablished-2 	 1	 300000 bare-rows/s	 80000 rows/s	 26 cpu-s	 17.3 goal-cpu-s
BenchmarkAPILoad-2  	       1	 4.0 bare-p50-ms	 5.0 p50-ms	 30 p99-ms	 10 bare-p99-ms	 30 open-p99-ms	 10 open-bare-p99-ms	 97.5 hit-%
PASS`
	res, err := parse(strings.NewReader(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res["BenchmarkReplay"][0]["rows/s"] != 2500 || res["BenchmarkAPILoad"][0]["p50-ms"] != 5 {
		t.Fatalf("parsed %v", res)
	}
	out := render(res, "test box")
	for _, want := range []string{
		"| 2,500 rows/s | 50,000 rows/s | 0.05 | ≥ 100,000 rows/s and ≥ 0.25 × bare insert | no |",
		"| 13.1 s | 8.75 s | 1.50 |  |  |",
		"accounts a year old (every fetch a full page of posts, as in a year of history) | 80,000 rows/s | 300,000 rows/s | 0.27 | ≥ 100,000 rows/s and ≥ 0.25 × bare insert | no |",
		"| 26.0 s | 17.3 s | 1.50 |  |  |",
		"| 5.00 ms | 4.00 ms | 1.25 | ≤ 1.5 × bare query p50 | yes |",
		"| 30.0 ms | 10.0 ms | 3.00 | ≤ 20 ms | no |",
		"| 97.5 % | – | – |  |  |",
		"Machine: test box",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "normalizer (account payloads)") {
		t.Errorf("table shows a figure that was not measured:\n%s", out)
	}
}

// Several runs of one benchmark (-count N): each figure is the median of
// its runs with their range, a ratio to a baseline of the same benchmark
// is the median of each run's own ratio (not the ratio of the medians),
// and the goal is judged on the medians.
func TestSeveralRuns(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{{
		name: "odd count",
		// Per-run ratios 0.33, 0.16, 0.45: median 0.33. The ratio of
		// the medians (90,000 / 300,000) would be 0.30.
		in: `BenchmarkReplay-2 1 100000 rows/s 300000 bare-rows/s 9 cpu-s 8.75 goal-cpu-s
BenchmarkReplay-2 1 80000 rows/s 500000 bare-rows/s 10 cpu-s 8.75 goal-cpu-s
BenchmarkReplay-2 1 90000 rows/s 200000 bare-rows/s 14 cpu-s 8.75 goal-cpu-s`,
		want: []string{
			"| 90,000 rows/s (median of 3: 80,000–100,000) | 300,000 rows/s (median of 3: 200,000–500,000) | 0.33 | ≥ 100,000 rows/s and ≥ 0.25 × bare insert | no |",
			"| 10.0 s (median of 3: 9.00–14.0) | 8.75 s | 1.14 |",
		},
	}, {
		name: "even count, goal met on the medians though not in every run",
		in: `BenchmarkReplay-2 1 120000 rows/s 400000 bare-rows/s
BenchmarkReplay-2 1 90000 rows/s 400000 bare-rows/s
BenchmarkReplay-2 1 110000 rows/s 400000 bare-rows/s
BenchmarkReplay-2 1 130000 rows/s 400000 bare-rows/s`,
		want: []string{
			"| 115,000 rows/s (median of 4: 90,000–130,000) | 400,000 rows/s | 0.29 | ≥ 100,000 rows/s and ≥ 0.25 × bare insert | yes |",
		},
	}, {
		// Run 2 lacks its baseline (and run 3 the figure): the ratio and
		// the baseline come from runs 1 and 4 only, paired by run, not
		// by position among the values reported.
		name: "a metric missing from some runs",
		in: `BenchmarkReplay-2 1 100000 rows/s 500000 bare-rows/s
BenchmarkReplay-2 1 50000 rows/s
BenchmarkReplay-2 1 999999 bare-rows/s
BenchmarkReplay-2 1 60000 rows/s 200000 bare-rows/s`,
		want: []string{
			"| 60,000 rows/s (median of 3: 50,000–100,000) | 350,000 rows/s (median of 2: 200,000–500,000) | 0.25 |",
		},
	}, {
		name: "no run with both the figure and its baseline",
		in: `BenchmarkReplay-2 1 100000 rows/s
BenchmarkReplay-2 1 400000 bare-rows/s`,
		want: []string{"| 100,000 rows/s | – | – | ≥ 100,000 rows/s and ≥ 0.25 × bare insert | no |"},
	}, {
		name: "a baseline from another benchmark: the ratio of the medians",
		in: `BenchmarkNormalizer-2 1 100 msgs/s
BenchmarkNormalizer-2 1 300 msgs/s
BenchmarkBareConsume-2 1 1000 msgs/s`,
		want: []string{"| normalizer (account payloads) | 200.0 msgs/s (median of 2: 100.0–300.0) | 1,000 msgs/s | 0.20 |"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := parse(strings.NewReader(tc.in), nil)
			if err != nil {
				t.Fatal(err)
			}
			out := render(res, "")
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("table lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
