package topics_test

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// v1Encoding is how builds before RawPayload version 2 encoded p: by
// reflection, every body a base64 string.
func v1Encoding(t testing.TB, p topics.RawPayload) []byte {
	t.Helper()
	p.V = 1
	b, err := stdjson.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func samplePayload() topics.RawPayload {
	return topics.RawPayload{
		RequestID: "r-1", LinkID: "link <1>", UserID: "user \"é\"", Platform: topics.Facebook, AccountID: "42",
		FetchedAt: time.Date(2026, 11, 30, 1, 2, 3, 456789000, time.UTC),
		Account:   []byte(`{"id":"42","followers_count":7}`),
		PostPages: [][]byte{[]byte(` {"data":[{"id":"1","message":"a\nb"}]}` + "\n"), []byte(`[]`)},
		Insights:  [][]byte{[]byte("<html>rate limited</html>"), {}, nil},
	}
}

func TestRawPayloadV2EmbedsJSONBodies(t *testing.T) {
	in := samplePayload()
	b, err := topics.RawPayloadCodec.Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"account":{"id":"42","followers_count":7}`) ||
		!strings.Contains(string(b), `"post_pages":[{"data":[{"id":"1","message":"a\nb"}]},[]]`) {
		t.Fatalf("JSON bodies not embedded as JSON: %s", b)
	}
	// Any JSON reader can read it, and a body that is not JSON is base64.
	var m map[string]any
	if err := stdjson.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	if m["v"] != float64(2) || m["insights"].([]any)[0] != "PGh0bWw+cmF0ZSBsaW1pdGVkPC9odG1sPg==" {
		t.Fatalf("decoded as %v", m)
	}
	out, err := topics.RawPayloadCodec.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.V = 2
	want.PostPages = [][]byte{[]byte(`{"data":[{"id":"1","message":"a\nb"}]}`), []byte(`[]`)} // whitespace around a body is not kept
	want.Insights = [][]byte{[]byte("<html>rate limited</html>"), {}, nil}
	if !reflect.DeepEqual(out, &want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, &want)
	}
}

// TestRawPayloadReadsVersion1 is the replay of records written before
// version 2: they decode to what they held.
func TestRawPayloadReadsVersion1(t *testing.T) {
	in := samplePayload()
	in.PostsSkipped = true
	old := v1Encoding(t, in)
	if !bytes.Contains(old, []byte(`"account":"eyJ`)) {
		t.Fatalf("not the version 1 encoding: %s", old)
	}
	got, unknown, err := topics.DecodeRawPayload(old)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.V = 1
	if !reflect.DeepEqual(got, &want) || unknown != nil {
		t.Fatalf("version 1:\n got %+v %v\nwant %+v", got, unknown, &want)
	}
	// The generic decoder agrees.
	if g, err := topics.RawPayloadCodec.Unmarshal(old); err != nil || !reflect.DeepEqual(g, &want) {
		t.Fatalf("RawPayloadCodec.Unmarshal: %+v, %v", g, err)
	}
}

func TestDecodeRawPayloadErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{`{"v":3,"link_id":"l"}`, topics.ErrUnknownVersion},
		{`{"link_id":"l"}`, topics.ErrUnknownVersion},
		{`{"v":2,"account":{"id":`, topics.ErrMalformed},
		{`{"v":2,"account":"not base64!"}`, topics.ErrMalformed},
		{`{"v":2,"account":12}`, topics.ErrMalformed},
		{`{"v":2,"post_pages":{}}`, topics.ErrMalformed},
		{`{"v":"2"}`, topics.ErrMalformed},
		{`{"v":2.5}`, topics.ErrMalformed},
		{`{"v":2,"fetched_at":"yesterday"}`, topics.ErrMalformed},
		{`{"v":2} {}`, topics.ErrMalformed},
		{`[{"v":2}]`, topics.ErrMalformed},
		{``, topics.ErrMalformed},
	} {
		if _, _, err := topics.DecodeRawPayload([]byte(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("DecodeRawPayload(%s) = %v, want %v", tc.in, err, tc.want)
		}
	}
	p, unknown, err := topics.DecodeRawPayload([]byte(`{"v":2,"zeta":[1,{"a":"}"}],"link_id":"l","alpha":null,"zeta":2,"account":null,"post_pages":null}`))
	if err != nil || p.LinkID != "l" || p.Account != nil || p.PostPages != nil || !reflect.DeepEqual(unknown, []string{"alpha", "zeta"}) {
		t.Fatalf("unknown fields: %+v %v %v", p, unknown, err)
	}
}

// FuzzRawPayload: every payload survives the version 2 round trip, and its
// version 1 encoding decodes to the same payload.
func FuzzRawPayload(f *testing.F) {
	f.Add("r", "l", "{\"a\":1}", "[1,2]", "<not json>", true)
	f.Add("\u2028&", "\xff", "", " {} ", "\"str\"", false)
	f.Fuzz(func(t *testing.T, id, link, account, page, insight string, skipped bool) {
		in := topics.RawPayload{RequestID: id, LinkID: link, UserID: "u", Platform: topics.X,
			FetchedAt: time.Unix(1_700_000_000, 5).UTC(), Account: []byte(account),
			PostPages: [][]byte{[]byte(page)}, Insights: [][]byte{[]byte(insight)}, PostsSkipped: skipped}
		b, err := topics.RawPayloadCodec.Marshal(&in)
		if err != nil {
			t.Fatal(err)
		}
		if !stdjson.Valid(b) {
			t.Fatalf("invalid JSON: %s", b)
		}
		got, err := topics.RawPayloadCodec.Unmarshal(b)
		if err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		trim := func(s string) []byte {
			if t := strings.Trim(s, " \t\r\n"); t != "" && (t[0] == '{' || t[0] == '[') && stdjson.Valid([]byte(s)) {
				return []byte(t)
			}
			return []byte(s)
		}
		if !bytes.Equal(got.Account, trim(account)) || !bytes.Equal(got.PostPages[0], trim(page)) || !bytes.Equal(got.Insights[0], trim(insight)) {
			t.Fatalf("bodies: got %q %q %q from %s", got.Account, got.PostPages[0], got.Insights[0], b)
		}
		old, _, err := topics.DecodeRawPayload(v1Encoding(t, in))
		if err != nil {
			t.Fatal(err)
		}
		want := in
		want.V = 1
		// encoding/json replaces invalid UTF-8 in strings; compare what it kept.
		var ref topics.RawPayload
		if err := stdjson.Unmarshal(v1Encoding(t, in), &ref); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(old, &ref) {
			t.Fatalf("version 1:\n got %+v\nwant %+v", old, &ref)
		}
		if got.RequestID != ref.RequestID || got.LinkID != ref.LinkID || got.PostsSkipped != skipped || !got.FetchedAt.Equal(in.FetchedAt) {
			t.Fatalf("fields: got %+v, want %+v", got, ref)
		}
	})
}

// FuzzRawPayloadByHand: DecodeRawPayload, which reads the common case by
// hand, gives the token decoder's result, and fails where it fails, for
// any input.
func FuzzRawPayloadByHand(f *testing.F) {
	in := topics.RawPayload{V: 2, RequestID: "r", LinkID: "l", UserID: "u", Platform: topics.Instagram, AccountID: "a",
		FetchedAt: time.Unix(1_700_000_000, 5).UTC(), Account: []byte(`{"id":"1","n":[1,2.5,{"x":null}]}`),
		PostPages: [][]byte{[]byte(`{"data":[]}`), nil}, Insights: [][]byte{[]byte(`[]`)}, PostsIncremental: true}
	b, _ := topics.RawPayloadCodec.Marshal(&in)
	for _, seed := range []string{string(b), `{"v":2,"account":"e30=","zz":1,"aa":{},"zz":[]}`, `{"v":1.0}`, `{"v":2,"link_id":"\xff"}`,
		`{"v":2,"post_pages":[],"insights":null,"account":null}`, `{"v":2,"LINK_ID":"x","link_id":"y","link_id":null}`,
		`{"v":2,"fetched_at":"2026-13-01T00:00:00Z"}`, `{"v":2,"account":{"a":"\u00e9\ud800"}}`, `{"v":2,"account":5}`, `{"v":2}x`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotUnknown, gotErr := topics.DecodeRawPayload(b)
		want, wantUnknown, wantErr := topics.DecodeRawPayloadTokens(b)
		if wantErr == nil && (want.V < 1 || want.V > topics.RawPayloadVersion) {
			wantErr = topics.ErrUnknownVersion
		}
		if (gotErr != nil) != (wantErr != nil) || (gotErr == nil && (!reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotUnknown, wantUnknown))) {
			t.Fatalf("%q:\nhand   %+v %v (%v)\ntokens %+v %v (%v)", b, got, gotUnknown, gotErr, want, wantUnknown, wantErr)
		}
	})
}

// TestRawPayloadIsReadByHand: a version 2 payload as the fetcher writes
// it, bodies in every platform's shape, is read by hand.
func TestRawPayloadIsReadByHand(t *testing.T) {
	in := topics.RawPayload{V: 2, RequestID: "r", LinkID: "l", UserID: "u", Platform: topics.Facebook, AccountID: "a",
		FetchedAt: time.Unix(1_700_000_000, 5).UTC(), Account: []byte(`{"id":"1","name":"N \u00e9","followers_count":12}`),
		PostPages: [][]byte{[]byte(`{"data":[{"id":"1_2","message":"a \"quoted\"\nline","insights":{"data":[{"name":"post_impressions","values":[{"value":5}]}]}}],"paging":{}}`)},
		Insights:  [][]byte{[]byte(`{"data":[{"name":"page_follows","period":"day","values":[{"value":3,"end_time":"2026-11-30T08:00:00+0000"}]}]}`)}}
	b, err := topics.RawPayloadCodec.Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	if !topics.RawPayloadReadByHand(b) {
		t.Fatalf("handed over to the token decoder: %s", b)
	}
}
