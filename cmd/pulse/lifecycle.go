package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/producers/refresher"
	"github.com/pulsehq/pulse/topics"
)

// newRefresher builds the token refresher, which also retries analytics
// purges and deletes expired rows. Zero durations take its defaults.
func newRefresher(pg *postgres.DB, ch *clickhouse.DB, conns map[topics.Platform]platforms.Connector, interval, before time.Duration) (*refresher.Refresher, error) {
	return refresher.New(refresher.Config{
		Links: pg, Connectors: conns, Purges: pg, Purger: ch, Janitor: pg,
		Interval: interval, RefreshBefore: before,
	})
}

func runRefresher(ctx context.Context, args []string) error {
	fs := newFlagSet("refresher")
	var (
		pg       pgFlags
		ch       chFlags
		pf       platformFlags
		interval time.Duration
		before   time.Duration
	)
	pg.register(fs)
	ch.register(fs)
	pf.register(fs)
	durVar(fs, &interval, "interval", "PULSE_REFRESHER_INTERVAL", refresher.DefaultInterval, "time between rounds")
	durVar(fs, &before, "refresh-before", "PULSE_REFRESH_BEFORE", refresher.DefaultRefreshBefore, "renew a token this long before it expires (more than --interval)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conns, err := pf.connectors()
	if err != nil {
		return err
	}
	pdb, err := pg.open(ctx, true)
	if err != nil {
		return err
	}
	defer pdb.Close()
	cdb, err := ch.open(ctx)
	if err != nil {
		return err
	}
	defer cdb.Close()
	r, err := newRefresher(pdb, cdb, conns, interval, before)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// runRotateKeys re-wraps every data key under the current master key (the
// first of --master-keys), calling RotateMasterKey until it finds nothing
// left to do. It runs online, next to the other components.
func runRotateKeys(ctx context.Context, args []string) error {
	fs := newFlagSet("rotate-keys")
	var pg pgFlags
	pg.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	pdb, err := pg.open(ctx, true)
	if err != nil {
		return err
	}
	defer pdb.Close()
	total := 0
	for {
		n, err := pdb.RotateMasterKey(ctx)
		total += n
		if err != nil {
			return fmt.Errorf("rotate-keys: after re-wrapping %d data keys: %w", total, err)
		}
		if n == 0 {
			break
		}
		fmt.Fprintf(os.Stdout, "re-wrapped %d data keys\n", n)
	}
	fmt.Fprintf(os.Stdout, "done: %d data keys re-wrapped; every data key is under the current master key, "+
		"so the other keys can be removed from the configuration\n", total)
	return nil
}
