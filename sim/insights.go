package sim

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// Insights: the Graph API's insights edges of a Page and of an Instagram
// account (GET /{version}/{id}/insights?metric=…&period=day&since=…&until=…)
// and the insights field of posts and media
// (fields=…,insights.metric(…)). Values are pure functions of the model,
// consistent with the live counters: an account's daily reach and views
// scale with its followers that day, a post's with its impressions.
//
// A day is a UTC day; its value's end_time is the next midnight (Meta
// reports the Page's time zone; the simulated Pages are all on UTC). The
// current day is served too, with its value so far. A metric the
// simulated API version no longer serves fails the whole request with
// Meta's error code 100, as on Meta: see MetaRetired and
// FacebookConfig.RetiredMetrics.

// DayInsights are an account's insights over one UTC day.
type DayInsights struct {
	// Reach is the number of accounts that saw the account's content.
	Reach int64 `json:"reach"`
	// Views counts the times its content was seen (impressions).
	Views int64 `json:"views"`
	// ProfileViews counts visits to the profile or Page.
	ProfileViews int64 `json:"profile_views"`
}

const tagInsights uint64 = 100

// dayInsights returns a's insights over the UTC day starting at d, as of
// t: the whole day's once t is past it, the share so far while t is in
// it, zero before it.
func (a *account) dayInsights(d, t time.Time) DayInsights {
	d = d.UTC().Truncate(day)
	frac := min(1, max(0, float64(t.Sub(d))/float64(day)))
	if frac == 0 {
		return DayInsights{}
	}
	h := hash(a.key, tagInsights, uint64(d.Unix()/86400))
	u := func(i uint64) float64 { return unit(hash(h, i)) }
	f := float64(a.followers(d.Add(day / 2)))
	views := f * (0.4 + 0.8*u(1))
	reach := views * (0.45 + 0.3*u(2))
	profile := reach * (0.02 + 0.05*u(3))
	return DayInsights{
		Reach:        int64(math.Floor(reach * frac)),
		Views:        int64(math.Floor(views * frac)),
		ProfileViews: int64(math.Floor(profile * frac)),
	}
}

// Insights returns the insights of account id of platform p over the UTC
// day starting at d, as the API reports them at the simulated now (the
// current day's so far).
func (s *Server) Insights(p topics.Platform, id string, d time.Time) (DayInsights, error) {
	_, a, err := s.lookup(p, id)
	if err != nil {
		return DayInsights{}, err
	}
	return a.dayInsights(d, s.now()), nil
}

// metaMetric is an insights metric a simulated Graph API version serves:
// its value for account a on the day starting at d, as of now.
type metaMetric struct {
	title string
	value func(a *account, d, now time.Time) int64
}

// MetaRetired are the metrics v24.0 no longer serves, with the message
// Meta answers (error code 100) when one is asked for. Config
// RetiredMetrics retire further ones with the generic message.
var MetaRetired = map[string]string{
	// Instagram, since v22.0.
	"impressions": "(#100) Starting from version v22.0 and above, the impressions metric is no longer supported. Please use views instead.",
	// Facebook Pages, since November 2025.
	"page_impressions":        "(#100) The value must be a valid insights metric",
	"page_impressions_unique": "(#100) The value must be a valid insights metric",
	"page_fans":               "(#100) The value must be a valid insights metric",
	"post_impressions_unique": "(#100) The value must be a valid insights metric",
}

// retiredMessage returns Meta's message for a request of retired metric
// name, and whether it is retired on this simulation.
func (m *metaSim) retiredMessage(name string) (string, bool) {
	if msg, ok := MetaRetired[name]; ok {
		return msg, true
	}
	if slices.Contains(m.retired, name) {
		return "(#100) The value must be a valid insights metric: " + name + " is no longer available in this version", true
	}
	return "", false
}

// checkMetrics validates the metrics of an insights request against
// known: it returns the error answer for a retired or unknown one.
func (m *metaSim) checkMetrics(names []string, known map[string]metaMetric) (int, any, bool) {
	if len(names) == 0 {
		st, b := m.fail(http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The parameter metric is required")
		return st, b, false
	}
	for _, n := range names {
		if msg, retired := m.retiredMessage(n); retired {
			st, b := m.fail(http.StatusBadRequest, 100, 0, "OAuthException", msg)
			return st, b, false
		}
		if _, ok := known[n]; !ok {
			st, b := m.fail(http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The value must be a valid insights metric")
			return st, b, false
		}
	}
	return 0, nil, true
}

type metaInsight struct {
	Name        string             `json:"name"`
	Period      string             `json:"period"`
	Values      []metaInsightValue `json:"values"`
	Title       string             `json:"title"`
	Description string             `json:"description"`
	ID          string             `json:"id"`
}

type metaInsightValue struct {
	Value   int64  `json:"value"`
	EndTime string `json:"end_time,omitempty"`
}

// insights serves GET /{version}/{id}/insights for account c.acct: each
// metric's daily values for the UTC days from since (default: yesterday)
// up to until (default: now), at most maxDays days apart, days after now
// left out. period must be day.
func (m *metaSim) insights(c *apiCall, known map[string]metaMetric, maxDays int) (int, any) {
	q := c.r.URL.Query()
	if p := q.Get("period"); p != "day" {
		return m.fail(http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The parameter period must be one of the following values: day")
	}
	names := strings.FieldsFunc(q.Get("metric"), func(r rune) bool { return r == ',' })
	if st, b, ok := m.checkMetrics(names, known); !ok {
		return st, b
	}
	today := c.now.Truncate(day)
	since, until := today.Add(-day), c.now
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &since}, {"until", &until}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return m.fail(http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The parameter "+p.name+" must be a Unix timestamp")
			}
			*p.dst = time.Unix(n, 0).UTC()
		}
	}
	if until.Sub(since) > time.Duration(maxDays)*day {
		return m.fail(http.StatusBadRequest, 100, 0, "OAuthException",
			"(#100) The since and until parameters must be no more than "+strconv.Itoa(maxDays)+" days apart")
	}
	data := []any{}
	for _, n := range names {
		mt := known[n]
		vals := []metaInsightValue{}
		for d := since.Truncate(day); d.Before(until) && !d.After(today); d = d.Add(day) {
			vals = append(vals, metaInsightValue{Value: mt.value(c.acct, d, c.now), EndTime: metaTime(d.Add(day))})
		}
		data = append(data, metaInsight{Name: n, Period: "day", Values: vals, Title: mt.title,
			Description: "Daily: " + mt.title, ID: c.acct.ID + "/insights/" + n + "/day"})
	}
	return http.StatusOK, metaList{Data: data}
}

// postInsights renders the insights field of a post or media: the
// lifetime value of each metric asked for in spec
// ("insights.metric(a,b)"), or the error answer when one is retired or
// unknown.
func (m *metaSim) postInsights(spec string, known map[string]func(*Post) int64, p *Post) (any, int, any, bool) {
	names := insightSpecMetrics(spec)
	kn := make(map[string]metaMetric, len(known))
	for n := range known {
		kn[n] = metaMetric{}
	}
	if st, b, ok := m.checkMetrics(names, kn); !ok {
		return nil, st, b, false
	}
	data := []any{}
	for _, n := range names {
		data = append(data, metaInsight{Name: n, Period: "lifetime", Values: []metaInsightValue{{Value: known[n](p)}},
			Title: n, Description: "Lifetime: " + n, ID: p.ID + "/insights/" + n + "/lifetime"})
	}
	return metaList{Data: data}, 0, nil, true
}

// insightSpecMetrics returns the metrics of an insights field spec,
// "insights.metric(reach,views)".
func insightSpecMetrics(spec string) []string {
	_, rest, ok := strings.Cut(spec, ".metric(")
	if !ok {
		return nil
	}
	list, _, _ := strings.Cut(rest, ")")
	return strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' })
}

// Account metrics per platform (v24.0).
var (
	fbPageMetrics = map[string]metaMetric{
		// page_follows is the Page's followers at the end of each day.
		"page_follows": {"Page follows", func(a *account, d, now time.Time) int64 {
			return a.followers(minT(d.Add(day), now))
		}},
		"page_total_media_view_unique": {"Total media viewers", func(a *account, d, now time.Time) int64 { return a.dayInsights(d, now).Reach }},
		"page_media_view":              {"Media views", func(a *account, d, now time.Time) int64 { return a.dayInsights(d, now).Views }},
		"page_views_total":             {"Page views", func(a *account, d, now time.Time) int64 { return a.dayInsights(d, now).ProfileViews }},
	}
	igUserMetrics = map[string]metaMetric{
		// follower_count is the day's net change of followers (the day so
		// far for the current day): a total is the account's
		// followers_count less the changes after it.
		"follower_count": {"Follower count", func(a *account, d, now time.Time) int64 {
			return a.followers(minT(d.Add(day), now)) - a.followers(d)
		}},
		"reach":         {"Accounts reached", func(a *account, d, now time.Time) int64 { return a.dayInsights(d, now).Reach }},
		"views":         {"Views", func(a *account, d, now time.Time) int64 { return a.dayInsights(d, now).Views }},
		"profile_views": {"Profile views", func(a *account, d, now time.Time) int64 { return a.dayInsights(d, now).ProfileViews }},
	}
)

func minT(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
