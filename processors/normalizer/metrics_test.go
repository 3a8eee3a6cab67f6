package normalizer

import (
	"errors"
	"testing"
	"time"

	"github.com/pulsehq/pulse/metrics"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

// TestDeadLetterReasons: every way Normalize rejects a payload maps to its
// bounded reason label (a change to an error message fails here, not
// silently as "decode").
func TestDeadLetterReasons(t *testing.T) {
	enc := func(p topics.RawPayload) []byte {
		b, err := topics.RawPayloadCodec.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ok := topics.RawPayload{LinkID: "l", UserID: "u", Platform: "myspace", FetchedAt: time.Now()}
	missing := ok
	missing.UserID = ""
	for raw, want := range map[string]string{
		"not json":           metrics.ReasonDecode,
		string(enc(missing)): metrics.ReasonInvalid,
		string(enc(ok)):      metrics.ReasonUnknownPlatform,
	} {
		_, _, _, err := Normalize(map[topics.Platform]Parser{}, []byte(raw))
		if err == nil {
			t.Fatalf("%q: no error", raw)
		}
		if got := deadLetterReason(err); got != want {
			t.Errorf("%v: reason %q, want %q", err, got, want)
		}
	}
	x := ok
	x.Platform = topics.X
	_, _, _, err := Normalize(map[topics.Platform]Parser{topics.X: failingParser{}}, enc(x))
	if err == nil {
		t.Fatal("a failing parser: no error")
	}
	if got := deadLetterReason(err); got != metrics.ReasonParse {
		t.Errorf("%v: reason %q, want parse", err, got)
	}
}

// failingParser rejects every payload.
type failingParser struct{}

func (failingParser) ParseAccount([]byte) (platforms.Account, error) {
	return platforms.Account{}, errors.New("bad account")
}
func (failingParser) ParsePosts([]byte) ([]platforms.PostData, error) {
	return nil, errors.New("bad posts")
}
