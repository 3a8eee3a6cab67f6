package topics_test

import (
	"testing"
	"time"

	json "github.com/go-json-experiment/json/v1"

	"github.com/pulsehq/pulse/topics"
)

// BenchmarkPostCodec compares the hand-written Post codec with
// reflection, for one post as the normalizer writes it.
func BenchmarkPostCodec(b *testing.B) {
	at := time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC)
	p := topics.Post{V: 1, LinkID: "lg-link-1-123", UserID: "lg-user-41", Platform: topics.X, AccountID: "1000123",
		PostID: "123000045", CreatedAt: at.Add(-5 * time.Hour), ObservedAt: at, Text: "post 123000045",
		Permalink: "https://x.com/i/web/status/123000045", Likes: 311, Comments: 12, Views: 6220, Version: at.UnixMilli()}
	enc, _ := topics.PostCodec.Marshal(&p)
	b.Run("encode/hand", func(b *testing.B) {
		for b.Loop() {
			_, _ = topics.PostCodec.Marshal(&p)
		}
	})
	b.Run("encode/reflection", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(&p)
		}
	})
	b.Run("decode/hand", func(b *testing.B) {
		for b.Loop() {
			_, _ = topics.PostCodec.Unmarshal(enc)
		}
	})
	b.Run("decode/reflection", func(b *testing.B) {
		for b.Loop() {
			var q topics.Post
			_ = json.Unmarshal(enc, &q)
		}
	})
}
