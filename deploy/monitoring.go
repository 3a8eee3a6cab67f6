package deploy

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

//go:embed monitoring/alerts.yaml monitoring/dashboard.json
var monitoring embed.FS

// Query is one PromQL expression in the alert rules or the dashboard.
type Query struct {
	Where string // "alert PulseLinksStale", "panel Consumer lag by group"
	Expr  string
}

// MonitoringQueries parses the alert rules (with Prometheus's own rule-file
// validation: unknown fields, bad durations, bad templates and bad PromQL
// are errors) and the dashboard, and returns every PromQL expression they
// hold.
func MonitoringQueries() ([]Query, error) {
	b, err := monitoring.ReadFile("monitoring/alerts.yaml")
	if err != nil {
		return nil, err
	}
	groups, errs := rulefmt.Parse(b, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.Default())
	if len(errs) > 0 {
		return nil, fmt.Errorf("alerts.yaml: %w", errors.Join(errs...))
	}
	var out []Query
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			out = append(out, Query{Where: "alert " + r.Alert + r.Record, Expr: r.Expr})
		}
	}
	b, err = monitoring.ReadFile("monitoring/dashboard.json")
	if err != nil {
		return nil, err
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		return nil, fmt.Errorf("dashboard.json: %w", err)
	}
	for _, p := range dash.Panels {
		for _, t := range p.Targets {
			out = append(out, Query{Where: "panel " + p.Title, Expr: t.Expr})
		}
	}
	return out, nil
}

// MetricNames returns the metric families q reads, by family name: a
// histogram's _bucket, _sum and _count series count as the histogram.
func MetricNames(q Query) ([]string, error) {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(q.Expr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q.Where, err)
	}
	seen := map[string]bool{}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" {
			name := vs.Name
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suf); ok && !strings.HasSuffix(base, "_total") {
					name = base
				}
			}
			seen[name] = true
		}
		return nil
	})
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
