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

// seedDemo creates the demo user, if missing, and links n simulated
// accounts per platform with tokens the simulator issued. A demo user whose
// data key was wrapped by another master key (a database kept from a run
// with another data dir) is deleted and seeded again: it holds demo data
// only.
func (p *Pulse) seedDemo(ctx context.Context, db *postgres.DB, s *sim.Server, n int) error {
	err := seedDemoOnce(ctx, db, s, n)
	if err == nil || !errors.Is(err, errDemoKey) {
		return err
	}
	p.cfg.Logger.Warn("demo user's tokens were sealed under another master key; recreating the demo user", "err", err)
	u, aerr := db.Authenticate(ctx, DemoEmail, DemoPassword)
	if aerr != nil {
		return err
	}
	if _, derr := db.DeleteUser(ctx, u.ID); derr != nil {
		return fmt.Errorf("recreate demo user: %w", derr)
	}
	return seedDemoOnce(ctx, db, s, n)
}

var errDemoKey = errors.New("demo user's data key cannot be unwrapped")

func seedDemoOnce(ctx context.Context, db *postgres.DB, s *sim.Server, n int) error {
	u, err := db.CreateUser(ctx, DemoEmail, DemoPassword)
	if errors.Is(err, pulse.ErrConflict) {
		if u, err = db.Authenticate(ctx, DemoEmail, DemoPassword); err != nil {
			return fmt.Errorf("demo user exists with another password: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("seed demo user: %w", err)
	}
	for _, pl := range s.Platforms() {
		for i, acct := range s.Accounts(pl) {
			if i >= n {
				break
			}
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
