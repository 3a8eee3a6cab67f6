package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pulsehq/pulse/assembly"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/topics"
)

// planCmd prints the capacity plan: per platform, how many accounts fit at
// the interval and at 24 h, the binding scope and the expected staleness.
type planCmd struct {
	PostgresFlags
	Interval time.Duration `name:"interval" env:"PULSE_REFRESH_INTERVAL" default:"1h" help:"how often each linked account is fetched where the platform's limits allow"`
	Accounts string        `name:"accounts" env:"PULSE_PLAN_ACCOUNTS" help:"accounts per platform to plan for, e.g. x=250000,facebook=300000 (default: the accounts linked in PostgreSQL)"`
}

func (c *planCmd) Validate() error {
	if c.Interval <= 0 {
		return fmt.Errorf("--interval: %s is not positive", c.Interval)
	}
	_, err := c.counts()
	return err
}

// counts parses --accounts; nil when it is empty.
func (c *planCmd) counts() (map[topics.Platform]int, error) {
	if c.Accounts == "" {
		return nil, nil
	}
	known := scheduler.DefaultLimits()
	counts := map[topics.Platform]int{}
	for _, kv := range strings.Split(c.Accounts, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		n, err := strconv.Atoi(v)
		if _, isKnown := known[topics.Platform(k)]; !ok || err != nil || n < 0 || !isKnown {
			return nil, fmt.Errorf("--accounts: %q is not platform=count with a known platform", kv)
		}
		counts[topics.Platform(k)] = n
	}
	return counts, nil
}

func (c *planCmd) Run(e *runEnv) error {
	limits := assembly.SchedulerLimits(c.Interval)
	counts, err := c.counts()
	if err != nil {
		return err
	}
	var plans []scheduler.CapacityPlan
	if counts != nil {
		plans, err = scheduler.Plan(limits, counts)
	} else {
		pdb, oerr := assembly.OpenPostgres(e.ctx, c.PostgresFlags.config(), false)
		if oerr != nil {
			return oerr
		}
		defer pdb.Close()
		plans, err = assembly.Capacity{Store: pdb, Limits: limits}.Plan(e.ctx)
	}
	if err != nil {
		return err
	}
	fmt.Fprint(e.stdout, scheduler.FormatPlan(plans))
	return nil
}
