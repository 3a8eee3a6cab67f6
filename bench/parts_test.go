package bench_test

import (
	"testing"

	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/topics"
)

// BenchmarkReplayParts times the pipeline's own per-item work on the
// replay's payloads, without Kafka or ClickHouse: normalizing one raw
// payload (the envelope, then the platform bodies), decoding the envelope
// alone, and encoding and decoding one normalized event. It samples every
// 47th fetch of BenchmarkReplay's history (3,000 payloads: every account
// once, hours 0-46 of 48), so its figures are the replay's items, one at
// a time. `make bench` runs it apart from the replay (its line in
// parts.txt); alone: go test -run '^$' -bench ReplayParts -benchmem ./bench
func BenchmarkReplayParts(b *testing.B) {
	g := replayGen(b, 0)
	parsers := allParsers(b)
	var raws [][]byte
	size := 0
	for i := range 3000 {
		raw, err := g.Encoded(g.Fetch(i * 47 % g.Fetches()))
		if err != nil {
			b.Fatal(err)
		}
		raws = append(raws, raw)
		size += len(raw)
	}
	var snaps []topics.AccountSnapshot
	var posts []topics.Post
	for _, raw := range raws {
		s, _, p, err := normalizer.Normalize(parsers, raw)
		if err != nil {
			b.Fatal(err)
		}
		snaps = append(snaps, *s)
		posts = append(posts, p...)
	}
	encSnaps, encPosts := make([][]byte, len(snaps)), make([][]byte, len(posts))
	for i := range snaps {
		encSnaps[i] = must(topics.AccountSnapshotCodec.Marshal(&snaps[i]))
	}
	for i := range posts {
		encPosts[i] = must(topics.PostCodec.Marshal(&posts[i]))
	}
	b.Run("normalize", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, _, _, err := normalizer.Normalize(parsers, raws[i%len(raws)]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size)/float64(len(raws)), "payload-B")
		b.ReportMetric(float64(len(posts))/float64(len(raws)), "posts/payload")
	})
	b.Run("envelope", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, _, err := topics.DecodeRawPayload(raws[i%len(raws)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode-post", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := topics.PostCodec.Marshal(&posts[i%len(posts)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode-snapshot", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := topics.AccountSnapshotCodec.Marshal(&snaps[i%len(snaps)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-post", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			var p topics.Post
			if err := topics.PostCodec.UnmarshalInto(encPosts[i%len(encPosts)], &p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-snapshot", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			var s topics.AccountSnapshot
			if err := topics.AccountSnapshotCodec.UnmarshalInto(encSnaps[i%len(encSnaps)], &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
