package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api/graph"
	"github.com/pulsehq/pulse/export"
	"github.com/pulsehq/pulse/topics"
)

// Export range caps: what one download may cover.
const (
	MaxExportHourly = 366 * 24 * time.Hour      // metrics at hour grain
	MaxExportRange  = 20 * 366 * 24 * time.Hour // metrics at day/month/year grain, and posts
)

var exportGrains = map[string]pulse.Grain{
	"hour": pulse.GrainHour, "day": pulse.GrainDay, "month": pulse.GrainMonth, "year": pulse.GrainYear,
}

// exportData serves GET /api/v1/export: the signed-in user's metrics or
// posts as Parquet, an Arrow IPC stream or CSV (package export documents
// the columns), streamed as they are read from the store.
//
// Query parameters: dataset=metrics|posts (default metrics),
// format=parquet|arrow|csv (default csv), grain=hour|day|month|year
// (metrics; default day), from and to (RFC 3339, required; to after from;
// hourly metrics span at most 366 days, everything else 20 years),
// platforms (comma-separated, e.g. x,instagram; default all). Errors before
// the first byte are JSON with a 4xx status; a failure while streaming
// cuts the download short (and is logged).
func (s *Server) exportData(w http.ResponseWriter, r *http.Request) {
	u, ok := graph.UserFrom(r.Context())
	if !ok {
		writeJSON(w, http.StatusUnauthorized, errBody("unauthorized", "sign in required"))
		return
	}
	if s.cfg.Export == nil {
		writeJSON(w, http.StatusNotImplemented, errBody("unavailable", "export is not available on this server"))
		return
	}
	q := r.URL.Query()
	bad := func(format string, args ...any) {
		writeJSON(w, http.StatusBadRequest, errBody("invalid_request", fmt.Sprintf(format, args...)))
	}
	format, err := export.ParseFormat(valueOr(q.Get("format"), "csv"))
	if err != nil {
		bad("format must be parquet, arrow or csv")
		return
	}
	dataset := valueOr(q.Get("dataset"), "metrics")
	if dataset != "metrics" && dataset != "posts" {
		bad("dataset must be metrics or posts")
		return
	}
	from, err1 := time.Parse(time.RFC3339, q.Get("from"))
	to, err2 := time.Parse(time.RFC3339, q.Get("to"))
	if err1 != nil || err2 != nil {
		bad("from and to are required, as RFC 3339 times (2026-01-02T00:00:00Z)")
		return
	}
	if !to.After(from) {
		bad("to must be after from")
		return
	}
	var platforms []string
	if p := q.Get("platforms"); p != "" {
		for _, name := range strings.Split(p, ",") {
			pl := topics.Platform(strings.ToLower(strings.TrimSpace(name)))
			if pl != topics.Facebook && pl != topics.Instagram && pl != topics.X && pl != topics.LinkedIn {
				bad("unknown platform %q", name)
				return
			}
			platforms = append(platforms, string(pl))
		}
	}
	grain, ok := exportGrains[valueOr(q.Get("grain"), "day")]
	if !ok {
		bad("grain must be hour, day, month or year")
		return
	}
	limit := MaxExportRange
	if dataset == "metrics" && grain == pulse.GrainHour {
		limit = MaxExportHourly
	}
	if to.Sub(from) > limit {
		bad("the range is limited to %d days for this export", int(limit.Hours()/24))
		return
	}

	name := fmt.Sprintf("pulse-%s-%s-%s", dataset, from.UTC().Format("20060102"), to.UTC().Format("20060102"))
	if dataset == "metrics" {
		name += "-" + string(grain)
	}
	h := w.Header()
	h.Set("Content-Type", format.ContentType())
	h.Set("Content-Disposition", `attachment; filename="`+name+format.Ext()+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	ctx := r.Context()
	if dataset == "metrics" {
		err = export.Metrics(ctx, w, format, s.cfg.Export, pulse.SeriesQuery{
			UserID: u.ID, Grain: grain, From: from, To: to, Platforms: platforms})
	} else {
		err = export.Posts(ctx, w, format, s.cfg.Export, pulse.PostsExportQuery{
			UserID: u.ID, From: from, To: to, Platforms: platforms})
	}
	if err != nil {
		s.log.Error("api: export", "user", u.ID, "dataset", dataset, "format", format, "err", err)
		// Headers may be sent already: abort the response so the client
		// sees a broken download rather than a complete-looking one.
		panic(http.ErrAbortHandler)
	}
}

func valueOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
