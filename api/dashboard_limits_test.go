package api_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse/api"
)

// dashboardQueries returns the GraphQL documents the dashboard sends, as
// web/static/js/api.js exports them (Q_*, M_*, S_*), evaluated by node.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: cannot read the dashboard's queries from web/static/js/api.js")
	}
	file, err := filepath.Abs("../web/static/js/api.js")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, "--input-type=module", "-e", `
const m = await import(process.argv[1]);
const q = {};
for (const [k, v] of Object.entries(m)) if (/^[QMS]_/.test(k)) q[k] = v;
console.log(JSON.stringify(q));`, "file://"+file).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var qs map[string]string
	if err := json.Unmarshal(out, &qs); err != nil {
		t.Fatal(err)
	}
	if len(qs) < 5 || qs["Q_DASHBOARD"] == "" || qs["S_SUMMARY"] == "" {
		t.Fatalf("dashboard queries not found: %v", qs)
	}
	return qs
}

// TestDashboardQueriesStayWellInsideTheLimits runs every query the
// dashboard sends, with the variables it sends for each grain (its
// rangeFor in app.js) and its largest feed page, against a server whose
// limits are a quarter of the defaults: none is refused.
func TestDashboardQueriesStayWellInsideTheLimits(t *testing.T) {
	queries := dashboardQueries(t)
	d := api.DefaultLimits
	now := newFakeNow()
	e := newEnv(t, func(c *api.Config) {
		c.Now = now
		c.Limits = api.Limits{MaxTokens: d.MaxTokens / 4, MaxFields: d.MaxFields / 4, MaxComplexity: d.MaxComplexity / 4}
	})
	b := e.browser(t)
	b.signUp("dashboard@example.com")
	refused := []string{"GRAPHQL_PARSE_FAILED", api.CodeTooManyFields, "COMPLEXITY_LIMIT_EXCEEDED"}

	hour := time.Now().UTC().Truncate(time.Hour)
	day := hour.Truncate(24 * time.Hour)
	month := time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, time.UTC)
	year := time.Date(day.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	ranges := map[string][2]time.Time{
		"HOUR":  {hour.Add(-47 * time.Hour), hour.Add(time.Hour)},
		"DAY":   {day.AddDate(0, 0, -29), day.AddDate(0, 0, 1)},
		"MONTH": {month.AddDate(0, -11, 0), month.AddDate(0, 1, 0)},
		"YEAR":  {year.AddDate(-4, 0, 0), year.AddDate(1, 0, 0)},
		// The longest custom ranges (customRange in model.js): 2 days
		// hourly, 92 days daily, 1096 days in whole months (37).
		"HOUR custom":  {day.AddDate(0, 0, -1), day.AddDate(0, 0, 1)},
		"DAY custom":   {day.AddDate(0, 0, -91), day.AddDate(0, 0, 1)},
		"MONTH custom": {month.AddDate(0, -36, 0), month.AddDate(0, 1, 0)},
	}
	names := make([]string, 0, len(queries))
	for name := range queries {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		q := queries[name]
		if strings.HasPrefix(name, "S_") {
			continue // below, over SSE
		}
		for grain, r := range ranges {
			vars := map[string]any{
				"grain": strings.TrimSuffix(grain, " custom"), "from": r[0], "to": r[1], "platforms": []string{"FACEBOOK", "INSTAGRAM", "X", "LINKEDIN"},
				"before": nil, "limit": 200, "any": true, "id": "00000000-0000-0000-0000-000000000000", "password": "not the password",
			}
			for _, err := range b.graphql(q, vars, nil) {
				if slices.Contains(refused, err.Extensions.Code) {
					t.Errorf("%s (%s) refused at a quarter of the limits: %s", name, grain, err.Message)
				}
			}
		}
	}
	for name, q := range queries {
		if !strings.HasPrefix(name, "S_") {
			continue
		}
		body, _ := json.Marshal(map[string]any{"query": q})
		s := openSSEBody(t, b, string(body))
		if ev := s.next(t); !strings.Contains(ev, `"summary"`) {
			t.Errorf("%s at a quarter of the limits: %s", name, ev)
		}
		s.cancel()
	}
}
