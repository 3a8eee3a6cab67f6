// Command benchtable reads `go test -bench` output on stdin and prints one
// markdown table: each figure Pulse has a goal for, its baseline measured
// in the same run, their ratio and the goal, met or not. `make bench` pipes
// its benchmarks through it; docs/bench.md keeps the latest table.
//
// A benchmark run several times (-count N) gives each figure as the median
// of its runs, with their range; a ratio to a baseline of the same
// benchmark is the median of each run's own ratio (its baseline was
// measured in that run), and the goal is judged on the medians.
//
// Usage: go test -run '^$' -bench . ./... | go run ./bench/benchtable [-machine TEXT]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// results maps benchmark name (without the -GOMAXPROCS suffix) to its
// runs, in order, each its metrics by unit.
type results map[string][]map[string]float64

func parse(r io.Reader, echo io.Writer) (results, error) {
	out := results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if echo != nil {
			fmt.Fprintln(echo, line)
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		m := map[string]float64{}
		out[name] = append(out[name], m)
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			m[f[i+1]] = v
		}
	}
	return out, sc.Err()
}

// figure is one row of the table.
type figure struct {
	label            string
	bench, metric    string
	baseBench, baseM string // the same-run baseline
	unit             string
	goal             string
	// met reports whether v (and its ratio to the baseline) meets the goal.
	met func(v, ratio float64) bool
	// minMinutes, when set, is how long (metric "minutes") the benchmark
	// must have run for its goal to count as met.
	minMinutes float64
}

var figures = []figure{
	{"replay end to end (raw payloads → normalizer → sink → ClickHouse), new accounts", "BenchmarkReplay", "rows/s", "BenchmarkReplay", "bare-rows/s", "rows/s",
		"≥ 100,000 rows/s and ≥ 0.25 × bare insert", func(v, r float64) bool { return v >= 100_000 && r >= 0.25 }, 0},
	{"  its normalizer stage (until every row is on the normalized topics)", "BenchmarkReplay", "normalized-rows/s", "BenchmarkReplay", "bare-rows/s", "rows/s", "", nil, 0},
	{"  its CPU per run, at most: the pipeline's process, ClickHouse's queries, its merges' time (baseline: the CPU 100,000 rows/s leaves, every core for rows ÷ 100,000 s)", "BenchmarkReplay", "cpu-s", "BenchmarkReplay", "goal-cpu-s", "s", "", nil, 0},
	{"replay end to end, accounts a year old (every fetch a full page of posts, as in a year of history)", "BenchmarkReplayEstablished", "rows/s", "BenchmarkReplayEstablished", "bare-rows/s", "rows/s",
		"≥ 100,000 rows/s and ≥ 0.25 × bare insert", func(v, r float64) bool { return v >= 100_000 && r >= 0.25 }, 0},
	{"  its CPU per run, at most (baseline: the CPU 100,000 rows/s leaves)", "BenchmarkReplayEstablished", "cpu-s", "BenchmarkReplayEstablished", "goal-cpu-s", "s", "", nil, 0},
	{"normalizer (account payloads)", "BenchmarkNormalizer", "msgs/s", "BenchmarkBareConsume", "msgs/s", "msgs/s", "", nil, 0},
	{"sink (snapshots, rollups included)", "BenchmarkSink", "rows/s", "BenchmarkBarePrepareBatch", "rows/s", "rows/s", "", nil, 0},
	{"API p50, GraphQL dashboard mix, 8 closed-loop clients (answer cache on, as shipped)", "BenchmarkAPILoad", "p50-ms", "BenchmarkAPILoad", "bare-p50-ms", "ms",
		"≤ 1.5 × bare query p50", func(v, r float64) bool { return r <= 1.5 }, 0},
	{"API p95, closed loop", "BenchmarkAPILoad", "p95-ms", "BenchmarkAPILoad", "bare-p95-ms", "ms", "", nil, 0},
	{"API p99, closed loop (saturated: mostly queueing)", "BenchmarkAPILoad", "p99-ms", "BenchmarkAPILoad", "bare-p99-ms", "ms", "", nil, 0},
	{"API throughput, closed loop", "BenchmarkAPILoad", "req/s", "BenchmarkAPILoad", "bare-req/s", "req/s", "", nil, 0},
	{"  answer cache hit rate, closed loop", "BenchmarkAPILoad", "hit-%", "", "", "%", "", nil, 0},
	{"  without the answer cache: p50, closed loop", "BenchmarkAPILoad", "uncached-p50-ms", "BenchmarkAPILoad", "bare-p50-ms", "ms", "", nil, 0},
	{"  without the answer cache: p99, closed loop", "BenchmarkAPILoad", "uncached-p99-ms", "BenchmarkAPILoad", "bare-p99-ms", "ms", "", nil, 0},
	{"  without the answer cache: throughput, closed loop", "BenchmarkAPILoad", "uncached-req/s", "BenchmarkAPILoad", "bare-req/s", "req/s", "", nil, 0},
	{"API p50 at a fixed offered load (open loop, -api-rate; answer cache on)", "BenchmarkAPILoad", "open-p50-ms", "BenchmarkAPILoad", "open-bare-p50-ms", "ms", "", nil, 0},
	{"API p99 at a fixed offered load (open loop; answer cache on)", "BenchmarkAPILoad", "open-p99-ms", "BenchmarkAPILoad", "open-bare-p99-ms", "ms",
		"≤ 20 ms", func(v, r float64) bool { return v <= 20 }, 0},
	{"  without the answer cache: p99 at the same offered load", "BenchmarkAPILoad", "open-uncached-p99-ms", "BenchmarkAPILoad", "open-bare-p99-ms", "ms", "", nil, 0},
	{"refresh to visible p50 (refresh press → GraphQL answers the new observation; baseline: the polling query's p50)", "BenchmarkRefreshToVisible", "p50-ms", "BenchmarkRefreshToVisible", "query-p50-ms", "ms", "", nil, 0},
	{"refresh to visible p95", "BenchmarkRefreshToVisible", "p95-ms", "BenchmarkRefreshToVisible", "query-p50-ms", "ms",
		"≤ 250 ms", func(v, r float64) bool { return v <= 250 }, 0},
	{"  pipeline part p95 (press → the successful poll began)", "BenchmarkRefreshToVisible", "pipeline-p95-ms", "BenchmarkRefreshToVisible", "query-p50-ms", "ms", "", nil, 0},
	{"pulse dev peak RSS, 10,000 linked accounts fetching (baseline: RSS once started)", "BenchmarkDevMemory", "rss-MB", "BenchmarkDevMemory", "idle-rss-MB", "MB",
		"< 500 MB after 1 h", func(v, r float64) bool { return v < 500 }, 60},
	{"pulse dev RSS at the end of the run", "BenchmarkDevMemory", "end-rss-MB", "BenchmarkDevMemory", "idle-rss-MB", "MB",
		"< 500 MB after 1 h", func(v, r float64) bool { return v < 500 }, 60},
}

func main() {
	machine := flag.String("machine", "", "describes the machine, printed under the table")
	quiet := flag.Bool("q", false, "do not echo the benchmark output")
	flag.Parse()
	var echo io.Writer = os.Stdout
	if *quiet {
		echo = nil
	}
	res, err := parse(os.Stdin, echo)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	fmt.Print(render(res, *machine))
}

func render(res results, machine string) string {
	var b strings.Builder
	b.WriteString("\n| figure | value | same-run baseline | ratio | goal | met |\n|---|---:|---:|---:|---|---|\n")
	for _, f := range figures {
		vals := metric(res[f.bench], f.metric)
		if len(vals) == 0 {
			continue
		}
		v := median(vals)
		bases := metric(res[f.baseBench], f.baseM)
		ratio := 0.0
		baseS, ratioS := "–", "–"
		if f.baseBench == f.bench {
			// Each run against the baseline it measured itself: only
			// runs that reported both count, for the baseline too.
			if rs, bs := paired(res[f.bench], f.metric, f.baseM); len(rs) > 0 {
				ratio = median(rs)
				baseS, ratioS = spread(bs, f.unit), fmt.Sprintf("%.2f", ratio)
			}
		} else if base := median(bases); len(bases) > 0 && base != 0 {
			ratio = v / base
			baseS, ratioS = spread(bases, f.unit), fmt.Sprintf("%.2f", ratio)
		}
		met := ""
		if f.met != nil {
			met = "no"
			if f.met(v, ratio) {
				met = "yes"
			}
			if m := median(metric(res[f.bench], "minutes")); f.minMinutes > 0 && m < f.minMinutes {
				met += fmt.Sprintf(" (after %.0f min, not %.0f)", m, f.minMinutes)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", f.label, spread(vals, f.unit), baseS, ratioS, f.goal, met)
	}
	if machine != "" {
		fmt.Fprintf(&b, "\nMachine: %s\n", machine)
	}
	return b.String()
}

// metric returns the metric's value in each run that reported it.
func metric(runs []map[string]float64, name string) []float64 {
	var out []float64
	for _, r := range runs {
		if v, ok := r[name]; ok {
			out = append(out, v)
		}
	}
	return out
}

// paired returns, for each run that reported both the metric and its
// (non-zero) baseline, the metric over that baseline, and the baseline.
func paired(runs []map[string]float64, name, base string) (ratios, bases []float64) {
	for _, r := range runs {
		v, ok1 := r[name]
		b, ok2 := r[base]
		if ok1 && ok2 && b != 0 {
			ratios, bases = append(ratios, v/b), append(bases, b)
		}
	}
	return ratios, bases
}

// median returns the median of vs (the mean of the middle two for an even
// count), 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(vs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// spread renders vs' median with its unit, and for several runs that
// differ their count and range: "63,535 rows/s (median of 5:
// 60,413–70,371)".
func spread(vs []float64, unit string) string {
	out := num(median(vs)) + " " + unit
	if len(vs) > 1 && slices.Min(vs) != slices.Max(vs) {
		out += fmt.Sprintf(" (median of %d: %s–%s)", len(vs), num(slices.Min(vs)), num(slices.Max(vs)))
	}
	return out
}

func num(v float64) string {
	switch {
	case v >= 1000:
		s := strconv.FormatInt(int64(v+0.5), 10)
		var out []byte
		for i, c := range []byte(s) {
			if i > 0 && (len(s)-i)%3 == 0 {
				out = append(out, ',')
			}
			out = append(out, c)
		}
		return string(out)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}
