package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
)

// Insights: account metrics by day (GET /{id}/insights) and post metrics
// (the insights field of posts and media), with the metric names of the
// pinned Version in one table per connector. Meta retires metrics often;
// a call asking for one fails with error code 100, usually naming it. A
// retired metric is left out, counted in Fetch.Skipped, and the call made
// again without it: never an error.

// Role is what a metric measures, whatever its name in a version.
type Role string

const (
	RoleFollowers    Role = "followers"     // total followers at the day's end
	RoleFollowerGain Role = "follower_gain" // the day's net change of followers
	RoleReach        Role = "reach"
	RoleViews        Role = "views"
	RoleProfileViews Role = "profile_views"
	RoleSaves        Role = "saves"
	RoleShares       Role = "shares"
)

// Metric is one metric's name in a pinned version and its role.
type Metric struct {
	Name string
	Role Role
}

// Names returns the metrics' names.
func Names(ms []Metric) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

// RoleOf returns the role of metric name in ms.
func RoleOf(ms []Metric, name string) (Role, bool) {
	for _, m := range ms {
		if m.Name == name {
			return m.Role, true
		}
	}
	return "", false
}

// retiredMetric returns the metric of names that err says the platform no
// longer serves: a Graph API error code 100 whose message names it (or
// that is about insights metrics, when only one was asked for).
func retiredMetric(err error, names []string) (string, bool) {
	var pe *platforms.Error
	if !errors.As(err, &pe) || pe.Code != 100 || pe.Err == nil {
		return "", false
	}
	msg := pe.Err.Error()
	for _, n := range names {
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(n) + `\b`).MatchString(msg) {
			return n, true
		}
	}
	if len(names) == 1 && strings.Contains(msg, "metric") {
		return names[0], true
	}
	return "", false
}

// WithMetrics calls get with names and, while Meta refuses a metric it no
// longer serves, leaves that one out (appending it to f.Skipped) and calls
// again. It returns get's result for the metrics kept, which may be none
// (then get is not called, and ok is false). When Meta refuses a metric
// without naming it, the metrics are tried one by one.
func WithMetrics(f *platforms.Fetch, names []string, get func(names []string) error) (ok bool, err error) {
	names = slices.Clone(names)
	for len(names) > 0 {
		err := get(names)
		if err == nil {
			return true, nil
		}
		if n, retired := retiredMetric(err, names); retired {
			f.Skipped = append(f.Skipped, n)
			names = slices.DeleteFunc(names, func(s string) bool { return s == n })
			continue
		}
		var pe *platforms.Error
		if len(names) > 1 && errors.As(err, &pe) && pe.Code == 100 && strings.Contains(pe.Err.Error(), "metric") {
			var kept []string
			for _, n := range names {
				if _, err := WithMetrics(f, []string{n}, func(one []string) error { return get(one) }); err != nil {
					return false, err
				}
				if !slices.Contains(f.Skipped, n) {
					kept = append(kept, n)
				}
			}
			if len(kept) == 0 {
				return false, nil
			}
			return true, get(kept)
		}
		return false, err
	}
	return false, nil
}

// InsightRange is the since and until of an insights call at now: on a
// backfill, platforms.HistoryDays days back; otherwise from yesterday's
// start, so yesterday's final value and today's so far are read.
func InsightRange(now time.Time, backfill bool) (since, until time.Time) {
	now = now.UTC()
	today := now.Truncate(24 * time.Hour)
	if backfill {
		return now.Add(-platforms.HistoryDays * 24 * time.Hour), now
	}
	return today.Add(-24 * time.Hour), now
}

// ReadInsights reads the account insights of node (metrics from the
// table ms) over [since, until), period day, appending the body to
// f.InsightBodies; retired metrics are skipped (WithMetrics).
func (s *Session) ReadInsights(ctx context.Context, op, node string, ms []Metric, since, until time.Time, token string) error {
	var body []byte
	ok, err := WithMetrics(s.f, Names(ms), func(names []string) error {
		q := url.Values{
			"metric": {strings.Join(names, ",")},
			"period": {"day"},
			"since":  {strconv.FormatInt(since.Unix(), 10)},
			"until":  {strconv.FormatInt(until.Unix(), 10)},
		}
		var err error
		body, err = s.Get(ctx, op, node+"/insights", q, token, func(b []byte) *platforms.Error {
			if _, err := ParseInsights(b, ms); err != nil {
				return s.c.Malformed(op, err)
			}
			return nil
		})
		return err
	})
	if err != nil || !ok {
		return err
	}
	s.f.InsightBodies = append(s.f.InsightBodies, body)
	return nil
}

// insightsBody is an insights answer: one entry per metric, each with its
// daily values.
type insightsBody struct {
	Data []struct {
		Name   string `json:"name"`
		Period string `json:"period"`
		Values []struct {
			Value   json.Number `json:"value"`
			EndTime string      `json:"end_time"`
		} `json:"values"`
	} `json:"data"`
}

// ParseInsights decodes an account insights body into days, oldest
// first, using the roles of the metric table ms; metrics not in ms are
// ignored. A value's day is the UTC day before its end_time.
func ParseInsights(b []byte, ms []Metric) ([]platforms.DayMetrics, error) {
	var body insightsBody
	if err := httpx.DecodeObject(b, &body); err != nil {
		return nil, err
	}
	days := map[int64]*platforms.DayMetrics{}
	for _, d := range body.Data {
		role, ok := RoleOf(ms, d.Name)
		if !ok {
			continue
		}
		for _, v := range d.Values {
			end, err := ParseTime(v.EndTime)
			if err != nil {
				return nil, fmt.Errorf("insights %s: end_time: %w", d.Name, err)
			}
			n, err := v.Value.Int64()
			if err != nil {
				return nil, fmt.Errorf("insights %s: value %q is not an integer", d.Name, v.Value)
			}
			day := end.Add(-time.Nanosecond).Truncate(24 * time.Hour)
			dm := days[day.Unix()]
			if dm == nil {
				dm = &platforms.DayMetrics{Day: day}
				days[day.Unix()] = dm
			}
			switch role {
			case RoleFollowers:
				dm.Followers = &n
			case RoleFollowerGain:
				dm.FollowerGain = &n
			case RoleReach:
				dm.Reach = &n
			case RoleViews:
				dm.Views = &n
			case RoleProfileViews:
				dm.ProfileViews = &n
			}
		}
	}
	out := make([]platforms.DayMetrics, 0, len(days))
	for _, d := range days {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b platforms.DayMetrics) int { return a.Day.Compare(b.Day) })
	return out, nil
}

// PostInsights is the insights field of a post or media: lifetime values.
type PostInsights struct {
	Data []struct {
		Name   string `json:"name"`
		Values []struct {
			Value json.Number `json:"value"`
		} `json:"values"`
	} `json:"data"`
}

// Values returns the insights' lifetime values by role, per the table ms.
func (p *PostInsights) Values(ms []Metric) map[Role]int64 {
	out := map[Role]int64{}
	if p == nil {
		return out
	}
	for _, d := range p.Data {
		role, ok := RoleOf(ms, d.Name)
		if !ok || len(d.Values) == 0 {
			continue
		}
		if n, err := d.Values[0].Value.Int64(); err == nil && n >= 0 {
			out[role] = n
		}
	}
	return out
}

// InsightsField is the fields entry that asks for the post metrics names.
func InsightsField(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return "insights.metric(" + strings.Join(names, ",") + ")"
}
