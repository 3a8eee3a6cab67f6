package assembly

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/vault"
)

// DemoAccountsPerUser is how many accounts per platform one demo user
// links. `pulse dev --demo-accounts N` links the first ones to the demo
// user (DemoEmail) and the rest, DemoAccountsPerUser per platform each, to
// further demo users (DemoUserEmail, same password), as accounts spread
// over users in real use: the aggregator keeps one table row per user
// holding each of the user's accounts and rewrites it on every snapshot of
// any of them, so one user with all 10,000 accounts of the memory
// benchmark made every snapshot decode, encode, store and publish a row of
// about 13 MB (1.3 kB per account once backfilled; docs/bench.md).
const DemoAccountsPerUser = 25

// DemoUserEmail is the email of demo user k (0: DemoEmail).
func DemoUserEmail(k int) string {
	if k == 0 {
		return DemoEmail
	}
	return fmt.Sprintf("demo+%d@pulse.local", k+1)
}

// seedDemo creates the demo users, if missing, and links n simulated
// accounts per platform (DemoAccountsPerUser per user) with tokens the
// simulator issued. A demo user whose data key was wrapped by another
// master key (a database kept from a run with another data dir) is
// deleted and seeded again: it holds demo data only.
func (p *Pulse) seedDemo(ctx context.Context, db *postgres.DB, s *sim.Server, n int) error {
	for k := 0; k*DemoAccountsPerUser < n; k++ {
		from, to := k*DemoAccountsPerUser, min(n, (k+1)*DemoAccountsPerUser)
		err := seedDemoUser(ctx, db, s, DemoUserEmail(k), from, to)
		if err == nil {
			continue
		}
		if !errors.Is(err, errDemoKey) {
			return err
		}
		p.cfg.Logger.Warn("demo user's tokens were sealed under another master key; recreating the demo user", "email", DemoUserEmail(k), "err", err)
		u, aerr := db.Authenticate(ctx, DemoUserEmail(k), DemoPassword)
		if aerr != nil {
			return err
		}
		if _, derr := db.DeleteUser(ctx, u.ID); derr != nil {
			return fmt.Errorf("recreate demo user: %w", derr)
		}
		if err := seedDemoUser(ctx, db, s, DemoUserEmail(k), from, to); err != nil {
			return err
		}
	}
	return nil
}

var errDemoKey = errors.New("demo user's data key cannot be unwrapped")

// seedDemoUser creates demo user email, if missing, and links the
// simulator's accounts from..to-1 of each platform to it.
func seedDemoUser(ctx context.Context, db *postgres.DB, s *sim.Server, email string, from, to int) error {
	u, err := db.CreateUser(ctx, email, DemoPassword)
	if errors.Is(err, pulse.ErrConflict) {
		if u, err = db.Authenticate(ctx, email, DemoPassword); err != nil {
			return fmt.Errorf("demo user %s exists with another password: %w", email, err)
		}
	} else if err != nil {
		return fmt.Errorf("seed demo user %s: %w", email, err)
	}
	for _, pl := range s.Platforms() {
		accts := s.Accounts(pl)
		for _, acct := range accts[min(from, len(accts)):min(to, len(accts))] {
			access, refresh, expiry, err := s.IssueToken(pl, acct.ID)
			if err != nil {
				return fmt.Errorf("seed demo %s token: %w", pl, err)
			}
			tok := &oauth2.Token{AccessToken: access, RefreshToken: refresh, TokenType: "bearer", Expiry: expiry}
			if _, err := db.UpsertLink(ctx, u.ID, pl, acct.ID, acct.Handle, tok, "demo"); err != nil {
				if errors.Is(err, vault.ErrDecrypt) || errors.Is(err, vault.ErrUnknownKey) {
					return fmt.Errorf("%w: %v", errDemoKey, err)
				}
				return fmt.Errorf("seed demo %s link: %w", pl, err)
			}
		}
	}
	return nil
}
