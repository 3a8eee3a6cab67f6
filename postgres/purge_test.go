package postgres

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
)

func TestDeleteUserEnqueuesPurgeUntilTwoPassesAreDone(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	clock := newFakeClock()
	db.now = clock.now
	ada := mustCreateUser(t, db, "ada@example.com")
	bob := mustCreateUser(t, db, "bob@example.com")
	for _, u := range []pulse.User{ada, bob} {
		if _, err := db.DeleteUser(t.Context(), u.ID); err != nil {
			t.Fatal(err)
		}
		clock.advance(time.Second)
	}

	// Handed to the deleting caller first: not claimable within the lease.
	if got, err := db.ClaimPurges(t.Context(), clock.now(), 10, time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("ClaimPurges during the deleter's lease = %+v, %v", got, err)
	}
	// Ada's deleter purged at once; Bob's did not report.
	if err := db.PurgeDone(t.Context(), ada.ID); err != nil {
		t.Fatal(err)
	}
	clock.advance(PurgeClaimLease)
	got, err := db.ClaimPurges(t.Context(), clock.now(), 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].UserID != bob.ID || got[0].Attempts != 1 {
		t.Fatalf("ClaimPurges = %+v, %v; want bob's, first attempt", got, err)
	}
	// Claimed: nobody else gets it within the lease.
	if again, _ := db.ClaimPurges(t.Context(), clock.now(), 10, time.Minute); len(again) != 0 {
		t.Fatalf("claimed twice: %+v", again)
	}
	reason := strings.Repeat("é", 600) // longer than kept; cut on a rune boundary
	if err := db.PurgeFailed(t.Context(), bob.ID, reason); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Minute)
	got, err = db.ClaimPurges(t.Context(), clock.now(), 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].Attempts != 2 || !strings.HasPrefix(reason, got[0].LastError) || len(got[0].LastError) != 1000 {
		t.Fatalf("retry = %+v, %v", got, err)
	}

	// Each needs a second pass, PurgeRepeatDelay after the first.
	if err := db.PurgeDone(t.Context(), bob.ID); err != nil {
		t.Fatal(err)
	}
	clock.advance(PurgeRepeatDelay)
	got, err = db.ClaimPurges(t.Context(), clock.now(), 10, time.Minute)
	ids := []string{}
	for _, p := range got {
		ids = append(ids, p.UserID)
	}
	if err != nil || !slices.Contains(ids, ada.ID) || !slices.Contains(ids, bob.ID) || len(ids) != 2 {
		t.Fatalf("second pass = %+v, %v", got, err)
	}
	for _, id := range ids {
		if err := db.PurgeDone(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if n := queryInt(t, db, "SELECT count(*) FROM purge_requests"); n != 0 {
		t.Fatalf("%d purge requests left", n)
	}
	// Unknown users are not an error.
	if err := db.PurgeDone(t.Context(), ada.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.PurgeFailed(t.Context(), ada.ID, "x"); err != nil {
		t.Fatal(err)
	}
	_, err = db.ClaimPurges(t.Context(), clock.now(), 0, time.Minute)
	wantCode(t, err, pulse.EINVALID)
	_, err = db.ClaimPurges(t.Context(), clock.now(), 1, 0)
	wantCode(t, err, pulse.EINVALID)
}
