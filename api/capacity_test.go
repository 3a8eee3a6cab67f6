package api_test

import (
	"context"
	"testing"

	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/api/graph"
)

type fixedCapacity []*graph.PlatformCapacity

func (f fixedCapacity) CapacityPlan(context.Context) ([]*graph.PlatformCapacity, error) {
	return f, nil
}

func TestCapacityPlanIsForOperatorsOnly(t *testing.T) {
	hourly := int64(4083)
	plan := fixedCapacity{{Platform: graph.PlatformLinkedin, Accounts: 58800, FitHourly: &hourly, BindingScope: "posts (app)",
		StalenessSeconds: 51840, PlanOnly: []string{}}}
	e := newEnv(t, func(c *api.Config) { c.Capacity, c.Operators = plan, []string{"Ops@Example.com"} })
	ops, user := e.browser(t), e.browser(t)
	ops.signUp("ops@example.com")
	user.signUp("user@example.com")

	var got struct {
		CapacityPlan []struct {
			Platform         string
			Accounts         int64
			FitHourly        *int64
			FitDaily         *int64
			BindingScope     string
			StalenessSeconds int64
		}
	}
	ops.mustGraphQL(`{ capacityPlan { platform accounts fitHourly fitDaily bindingScope stalenessSeconds } }`, nil, &got)
	if len(got.CapacityPlan) != 1 {
		t.Fatalf("capacityPlan = %+v", got)
	}
	c := got.CapacityPlan[0]
	if c.Platform != "LINKEDIN" || c.Accounts != 58800 || c.FitHourly == nil || *c.FitHourly != 4083 || c.FitDaily != nil ||
		c.BindingScope != "posts (app)" || c.StalenessSeconds != 51840 {
		t.Fatalf("capacityPlan = %+v", c)
	}
	user.wantGraphQLError(`{ capacityPlan { platform } }`, nil, "FORBIDDEN")
	e.browser(t).wantGraphQLError(`{ capacityPlan { platform } }`, nil, "UNAUTHENTICATED")
}
