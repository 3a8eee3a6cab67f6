package aggregator_test

import (
	"slices"
	"testing"

	"github.com/pulsehq/pulse/processors/aggregator"
	"github.com/pulsehq/pulse/topics"
)

// TestDeletionForgetsTheUserAndTheirLinks: a UserDeletion removes the
// user's row (a tombstone in the table) and asks for every link of the row
// and of the deletion to be forgotten; another user is untouched, and a
// malformed deletion is dead-lettered.
func TestDeletionForgetsTheUserAndTheirLinks(t *testing.T) {
	gt, _ := start(t)
	links := gt.NewQueueTracker(topics.LinkDeletions)
	dead := gt.NewQueueTracker(topics.DeadLetters)
	gt.Consume(topics.AccountSnapshots, "link-a", snapshot("u1", "link-a", t0, 100))
	gt.Consume(topics.AccountSnapshots, "link-b", snapshot("u1", "link-b", t0, 7))
	gt.Consume(topics.AccountSnapshots, "link-z", snapshot("u2", "link-z", t0, 5))
	if gt.TableValue(aggregator.Table, "u1") == nil {
		t.Fatal("u1 has no row before the deletion")
	}

	del, err := topics.UserDeletionCodec.Marshal(&topics.UserDeletion{UserID: "u1", LinkIDs: []string{"link-c"}, DeletedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	gt.Consume(topics.UserDeletions, "u1", del)
	if v := gt.TableValue(aggregator.Table, "u1"); v != nil {
		t.Fatalf("u1's row after the deletion: %+v", v)
	}
	if gt.TableValue(aggregator.Table, "u2") == nil {
		t.Fatal("u2's row went with u1's")
	}
	var got []string
	for {
		k, v, ok := links.Next()
		if !ok {
			break
		}
		d := v.(*topics.LinkDeletion)
		if d.LinkID != k || d.UserID != "u1" {
			t.Fatalf("link deletion %q: %+v", k, d)
		}
		got = append(got, k)
	}
	if want := []string{"link-a", "link-b", "link-c"}; !slices.Equal(got, want) {
		t.Fatalf("link deletions %v, want %v", got, want)
	}

	gt.Consume(topics.UserDeletions, "u2", del) // keyed by another user
	if gt.TableValue(aggregator.Table, "u2") == nil {
		t.Fatal("a deletion keyed u2 but naming u1 deleted u2")
	}
	if _, _, ok := dead.Next(); !ok {
		t.Fatal("the mismatched deletion was not dead-lettered")
	}
}
