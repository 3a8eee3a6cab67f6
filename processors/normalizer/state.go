package normalizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	json "github.com/go-json-experiment/json/v1"

	"github.com/pulsehq/pulse/topics"
)

// stateBinary marks StateCodec's binary encoding; the JSON encoding of
// older builds starts with '{'.
const stateBinary = 0x01

// StateCodec encodes State for the group table: a version byte, then the
// fields as varints and length-prefixed strings (Recent as deltas), about
// a tenth of the JSON and of its cost, which the processor pays twice for
// every payload. It decodes the JSON values older builds wrote as well.
// Views of the table use it.
type StateCodec struct{}

// Encode implements goka.Codec; v must be a *State or a State.
func (StateCodec) Encode(v any) ([]byte, error) {
	var s *State
	switch x := v.(type) {
	case *State:
		s = x
	case State:
		s = &x
	default:
		return nil, fmt.Errorf("normalizer: encode state: unexpected %T", v)
	}
	b := make([]byte, 0, 64+len(s.Platform)+len(s.AccountID)+5*len(s.Recent))
	b = append(b, stateBinary)
	b = appendString(b, string(s.Platform))
	b = appendString(b, s.AccountID)
	for _, n := range []int64{s.Version, s.Followers, s.Payloads, s.OutOfOrder, s.DeadLetters, s.UnknownFields} {
		b = binary.AppendVarint(b, n)
	}
	b = binary.AppendUvarint(b, uint64(len(s.LastUnknown)))
	for _, f := range s.LastUnknown {
		b = appendString(b, f)
	}
	var updated int64
	if !s.UpdatedAt.IsZero() {
		updated = s.UpdatedAt.UnixNano()
	}
	b = binary.AppendVarint(b, updated)
	b = binary.AppendUvarint(b, uint64(len(s.Recent)))
	prev := int64(0)
	for _, r := range s.Recent {
		b = binary.AppendVarint(b, r-prev)
		prev = r
	}
	// Added later: a state without them decodes with zeros.
	for _, n := range []int64{s.PostsVersion, int64(s.RecentPosts), s.RecentEngagement} {
		b = binary.AppendVarint(b, n)
	}
	// Added later still: the recent posts, each its id's length, its
	// creation time as a delta and its engagement, then their ids in one
	// string (decoded with one allocation).
	b = binary.AppendUvarint(b, uint64(len(s.Posts)))
	prev = 0
	ids := 0
	for _, p := range s.Posts {
		b = binary.AppendUvarint(b, uint64(len(p.ID)))
		b = binary.AppendVarint(b, p.Created-prev)
		b = binary.AppendVarint(b, p.Engagement)
		prev = p.Created
		ids += len(p.ID)
	}
	if len(s.Posts) > 0 {
		b = binary.AppendUvarint(b, uint64(ids))
		for _, p := range s.Posts {
			b = append(b, p.ID...)
		}
	}
	return b, nil
}

// Decode implements goka.Codec; it returns a *State.
func (StateCodec) Decode(b []byte) (any, error) {
	if len(b) > 0 && b[0] == '{' {
		var s State
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("normalizer: decode state: %w", err)
		}
		return &s, nil
	}
	if len(b) == 0 || b[0] != stateBinary {
		return nil, errors.New("normalizer: decode state: unknown encoding")
	}
	r := stateReader{b: b[1:]}
	var s State
	s.Platform = topics.Platform(r.string())
	s.AccountID = r.string()
	for _, p := range []*int64{&s.Version, &s.Followers, &s.Payloads, &s.OutOfOrder, &s.DeadLetters, &s.UnknownFields} {
		*p = r.varint()
	}
	if n := r.count(); n > 0 {
		s.LastUnknown = make([]string, n)
		for i := range s.LastUnknown {
			s.LastUnknown[i] = r.string()
		}
	}
	if u := r.varint(); u != 0 {
		s.UpdatedAt = time.Unix(0, u).UTC()
	}
	if n := r.count(); n > 0 {
		s.Recent = make([]int64, n, max(n, RecentVersions+1))
		prev := int64(0)
		for i := range s.Recent {
			prev += r.varint()
			s.Recent[i] = prev
		}
	}
	if r.err == nil && len(r.b) > 0 {
		s.PostsVersion, s.RecentPosts, s.RecentEngagement = r.varint(), int(r.varint()), r.varint()
	}
	if r.err == nil && len(r.b) > 0 {
		if n := r.count(); n > 0 {
			s.Posts = make([]RecentPost, n)
			lens := make([]int, n)
			prev := int64(0)
			for i := range s.Posts {
				p := &s.Posts[i]
				lens[i] = r.count()
				prev += r.varint()
				p.Created, p.Engagement = prev, r.varint()
			}
			ids := r.string()
			for i := range s.Posts {
				if lens[i] > len(ids) {
					r.err = errShort
					break
				}
				s.Posts[i].ID, ids = ids[:lens[i]], ids[lens[i]:]
			}
			if len(ids) != 0 {
				r.err = errShort
			}
		}
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errors.New("normalizer: decode state: truncated or trailing bytes")
	}
	return &s, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// stateReader reads what Encode wrote; the first error sticks.
type stateReader struct {
	b   []byte
	err error
}

var errShort = errors.New("short")

func (r *stateReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err, r.b = errShort, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length, bounded by the bytes left (each element takes at
// least one byte).
func (r *stateReader) count() int {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > uint64(len(r.b)) {
		r.err, r.b = errShort, nil
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

func (r *stateReader) string() string {
	n := r.count()
	if r.err != nil || n > len(r.b) {
		r.err, r.b = errShort, nil
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
