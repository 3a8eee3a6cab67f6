package main

import (
	"strings"
	"testing"
)

func TestParseAndRender(t *testing.T) {
	in := `goos: linux
BenchmarkReplay-2   	       1	     50000 bare-rows/s	 13.1 cpu-s	 8.75 goal-cpu-s	       751.3 payloads/s	         0.04281 ratio	      2500 rows/s
BenchmarkAPILoad-2  	       1	 4.0 bare-p50-ms	 5.0 p50-ms	 30 p99-ms	 10 bare-p99-ms	 30 open-p99-ms	 10 open-bare-p99-ms	 97.5 hit-%
PASS`
	res, err := parse(strings.NewReader(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res["BenchmarkReplay"]["rows/s"] != 2500 || res["BenchmarkAPILoad"]["p50-ms"] != 5 {
		t.Fatalf("parsed %v", res)
	}
	out := render(res, "test box")
	for _, want := range []string{
		"| 2,500 rows/s | 50,000 rows/s | 0.05 | ≥ 100,000 rows/s and ≥ 0.25 × bare insert | no |",
		"| 13.1 s | 8.75 s | 1.50 |  |  |",
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
