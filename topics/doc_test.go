package topics_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lovoo/goka"

	"github.com/pulsehq/pulse/processors/aggregator"
	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/topics"
)

// processors are the goka processors whose definitions give their topics.
func processors() map[string]*goka.GroupGraph {
	return map[string]*goka.GroupGraph{
		"normalizer": normalizer.Definition("", nil, nil),
		"aggregator": aggregator.Definition(nil),
	}
}

const (
	docBegin = "<!-- generated from topics.Specs and the goka processors' definitions by go test ./topics -update (make docs); do not edit -->\n"
	docEnd   = "<!-- end of generated tables -->\n"
)

// topicTables renders docs/topics.md's tables: every topic with its key,
// value, producers and consumers, then goka's own topics.
func topicTables(t *testing.T) string {
	t.Helper()
	producers, consumers := map[string][]string{}, map[string][]string{}
	var gokaRows []string
	procs := processors()
	names := make([]string, 0, len(procs))
	for n := range procs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		g := procs[name]
		if err := g.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, e := range g.InputStreams() {
			consumers[e.Topic()] = append(consumers[e.Topic()], name)
		}
		for _, e := range g.OutputStreams() {
			producers[e.Topic()] = append(producers[e.Topic()], name)
		}
		if e := g.GroupTable(); e != nil {
			gokaRows = append(gokaRows, fmt.Sprintf("| `%s` | %s's group table (compacted) |", e.Topic(), name))
		}
		if e := g.LoopStream(); e != nil {
			gokaRows = append(gokaRows, fmt.Sprintf("| `%s` | %s's loopback stream |", e.Topic(), name))
		}
	}
	values := map[string]bool{}
	for _, v := range topics.Values {
		values[v.Name] = true
	}
	var b strings.Builder
	b.WriteString("| topic | key | value | producers | consumers |\n|---|---|---|---|---|\n")
	for _, s := range topics.Specs {
		if !values[s.Value] {
			t.Errorf("%s: value %q is not in topics.Values", s.Name, s.Value)
		}
		value := fmt.Sprintf("[%s](schemas/%s.json)", s.Value, s.Value)
		if s.About != "" {
			value += ": " + s.About
		}
		prod := append(slices.Clone(producers[s.Name]), s.Producers...)
		cons := append(slices.Clone(consumers[s.Name]), s.Consumers...)
		slices.Sort(prod)
		slices.Sort(cons)
		if len(prod) == 0 {
			t.Errorf("%s: no producer", s.Name)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", s.Name, s.Key, value, strings.Join(prod, ", "), strings.Join(cons, ", "))
		delete(producers, s.Name)
		delete(consumers, s.Name)
	}
	for topic := range producers {
		t.Errorf("a processor produces to %s, which has no topics.Spec", topic)
	}
	for topic := range consumers {
		t.Errorf("a processor consumes %s, which has no topics.Spec", topic)
	}
	b.WriteString("\n| goka's own topic | |\n|---|---|\n")
	b.WriteString(strings.Join(gokaRows, "\n") + "\n")
	return b.String()
}

// TestSpecsListEveryTopic: Specs and All name the same topics, in order.
func TestSpecsListEveryTopic(t *testing.T) {
	var names []string
	for _, s := range topics.Specs {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, topics.All) {
		t.Fatalf("Specs %v, All %v", names, topics.All)
	}
}

// TestTopicsDocIsCurrent keeps docs/topics.md's tables in step with
// topics.Specs and the processors' definitions: a topic, producer or
// consumer changed without regenerating (go test ./topics -update) fails
// here.
func TestTopicsDocIsCurrent(t *testing.T) {
	path := filepath.Join("..", "docs", "topics.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated-table markers %q ... %q", path, docBegin, docEnd)
	}
	got := doc[i+len(docBegin) : j]
	want := topicTables(t)
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(doc[:i+len(docBegin)]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's tables are out of date; run go test ./topics -update (make docs). Want:\n%s", path, want)
}
