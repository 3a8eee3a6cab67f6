package normalizer_test

import (
	"testing"
	"time"

	"github.com/lovoo/goka"

	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/topics"
)

// TestLinkDeletionTombstonesTheLinksRow: a LinkDeletion removes the
// link's row and no other.
func TestLinkDeletionTombstonesTheLinksRow(t *testing.T) {
	gt, _, _, dead := startTester(t)
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	gt.Consume(topics.RawPayloads, "link-1", raw(t, "link-1", at, xAccountBody("42", 100)))
	gt.Consume(topics.RawPayloads, "link-2", raw(t, "link-2", at, xAccountBody("43", 100)))
	table := goka.GroupTable(normalizer.Group)
	if gt.TableValue(table, "link-1") == nil {
		t.Fatal("link-1 has no row")
	}
	del, err := topics.LinkDeletionCodec.Marshal(&topics.LinkDeletion{LinkID: "link-1", UserID: "user-1", DeletedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	gt.Consume(topics.LinkDeletions, "link-1", del)
	if v := gt.TableValue(table, "link-1"); v != nil {
		t.Fatalf("link-1's row after its deletion: %+v", v)
	}
	if gt.TableValue(table, "link-2") == nil {
		t.Fatal("link-2's row went too")
	}
	gt.Consume(topics.LinkDeletions, "link-2", []byte("not json"))
	if gt.TableValue(table, "link-2") == nil {
		t.Fatal("a malformed deletion deleted link-2")
	}
	if _, _, ok := dead.Next(); !ok {
		t.Fatal("the malformed deletion was not dead-lettered")
	}
}
