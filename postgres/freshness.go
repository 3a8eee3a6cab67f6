package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// Freshness describes how fresh one platform's active links are at a
// moment. A link's staleness is the time since its last successful fetch
// (since it was linked, if never fetched).
type Freshness struct {
	Platform topics.Platform
	Active   int64 // active links
	Due      int64 // whose next fetch is at or before now
	Overdue  int64 // whose staleness exceeds the interval asked for
	// Buckets[i] counts the links with staleness <= Bounds[i] (cumulative).
	Buckets []int64
	// StalenessSeconds is the sum of every active link's staleness.
	StalenessSeconds float64
}

// LinkFreshness summarises every platform's active links at now: how many
// are due, how many have gone longer than interval without a fetch, and
// the distribution of their staleness over bounds (ascending). One
// aggregate query; it reads no token. Platforms without active links are
// absent.
func (db *DB) LinkFreshness(ctx context.Context, now time.Time, interval time.Duration, bounds []time.Duration) ([]Freshness, error) {
	const op = "postgres.LinkFreshness"
	if interval <= 0 {
		return nil, errorf(pulse.EINVALID, op, "interval must be positive, got %v", interval)
	}
	secs := make([]float64, len(bounds))
	for i, b := range bounds {
		if i > 0 && b <= bounds[i-1] {
			return nil, errorf(pulse.EINVALID, op, "bounds must ascend")
		}
		secs[i] = b.Seconds()
	}
	byPlatform := map[topics.Platform]*Freshness{}
	var order []topics.Platform
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		// idx is the number of bounds below a link's staleness: the link
		// counts in every bucket from idx on.
		rows, err := c.Query(ctx, `WITH s AS (
				SELECT platform, next_fetch_at,
				       greatest(extract(epoch FROM $1::timestamptz - coalesce(last_fetched_at, created_at)), 0)::float8 AS staleness
				FROM links WHERE status = 'active'
			)
			SELECT platform, idx, count(*),
			       count(*) FILTER (WHERE next_fetch_at <= $1),
			       count(*) FILTER (WHERE staleness > $2),
			       sum(staleness)::float8
			FROM (SELECT s.*, (SELECT count(*) FROM unnest($3::float8[]) AS b WHERE b < s.staleness) AS idx FROM s) x
			GROUP BY platform, idx ORDER BY platform, idx`,
			now, interval.Seconds(), secs)
		if err != nil {
			return err
		}
		var (
			platform             string
			idx, n, due, overdue int64
			staleness            float64
		)
		_, err = pgx.ForEachRow(rows, []any{&platform, &idx, &n, &due, &overdue, &staleness}, func() error {
			p := topics.Platform(platform)
			f := byPlatform[p]
			if f == nil {
				f = &Freshness{Platform: p, Buckets: make([]int64, len(bounds))}
				byPlatform[p] = f
				order = append(order, p)
			}
			f.Active += n
			f.Due += due
			f.Overdue += overdue
			f.StalenessSeconds += staleness
			for j := idx; j < int64(len(bounds)); j++ {
				f.Buckets[j] += n
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, translate(op, err)
	}
	out := make([]Freshness, 0, len(order))
	for _, p := range order {
		out = append(out, *byPlatform[p])
	}
	return out, nil
}
