package assembly

import (
	"context"
	"fmt"
	"time"

	"github.com/pulsehq/pulse/api/graph"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/topics"
)

// Capacity serves the GraphQL capacityPlan query: the scheduler's limits
// against the accounts linked now.
type Capacity struct {
	Store interface {
		CountAccounts(ctx context.Context, p topics.Platform) (int, error)
	}
	Limits map[topics.Platform]scheduler.Limits
}

// Plan returns the capacity plan for the accounts linked now.
func (c Capacity) Plan(ctx context.Context) ([]scheduler.CapacityPlan, error) {
	counts := map[topics.Platform]int{}
	for p := range c.Limits {
		n, err := c.Store.CountAccounts(ctx, p)
		if err != nil {
			return nil, err
		}
		counts[p] = n
	}
	return scheduler.Plan(c.Limits, counts)
}

// CapacityPlan implements graph.Capacity.
func (c Capacity) CapacityPlan(ctx context.Context) ([]*graph.PlatformCapacity, error) {
	plans, err := c.Plan(ctx)
	if err != nil {
		return nil, err
	}
	bound := func(n int) *int64 {
		if n == scheduler.Unbounded {
			return nil
		}
		v := int64(n)
		return &v
	}
	var out []*graph.PlatformCapacity
	for _, p := range plans {
		pc := &graph.PlatformCapacity{Platform: graph.PlatformOf(p.Platform), Accounts: int64(p.Accounts),
			FitHourly: bound(p.Hourly), FitDaily: bound(p.Daily), BindingScope: p.Binding,
			StalenessSeconds: int64(p.Staleness / time.Second), PlanOnly: []string{}}
		for _, s := range p.Scopes {
			if s.PlanOnly {
				pc.PlanOnly = append(pc.PlanOnly, fmt.Sprintf("%s: %.0f %s per %s, fits %d accounts", s.Name, s.Limit, s.Unit, s.Window, s.Accounts))
			}
		}
		out = append(out, pc)
	}
	return out, nil
}
