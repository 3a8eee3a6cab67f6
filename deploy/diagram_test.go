package deploy_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestArchitectureSVGIsCurrent: docs/architecture.svg is rendered from
// docs/architecture.dot (`make diagram`): every node of the source is in the
// SVG under its id, with the same number of edges. It needs no Graphviz; it
// catches a source edited without regenerating the picture.
func TestArchitectureSVGIsCurrent(t *testing.T) {
	src, err := os.ReadFile("../docs/architecture.dot")
	if err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile("../docs/architecture.svg")
	if err != nil {
		t.Fatal(err)
	}
	nodes := regexp.MustCompile(`(?m)^\s*(\w+)\s+\[label=`).FindAllStringSubmatch(string(src), -1)
	if len(nodes) < 15 {
		t.Fatalf("found %d nodes in architecture.dot", len(nodes))
	}
	for _, n := range nodes {
		if !strings.Contains(string(svg), "<title>"+n[1]+"</title>") {
			t.Errorf("node %s is not in architecture.svg: run make diagram", n[1])
		}
	}
	var edges int
	for _, line := range strings.Split(string(src), "\n") {
		if l := strings.TrimSpace(line); !strings.HasPrefix(l, "//") {
			edges += strings.Count(l, " -> ")
		}
	}
	if got := strings.Count(string(svg), `class="edge"`); got != edges {
		t.Errorf("architecture.svg has %d edges, architecture.dot %d: run make diagram", got, edges)
	}
}
