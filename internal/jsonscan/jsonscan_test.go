package jsonscan_test

import (
	"reflect"
	"testing"

	json "github.com/go-json-experiment/json/v1"

	"github.com/pulsehq/pulse/internal/jsonscan"
)

type inner struct {
	N int64  `json:"n"`
	S string `json:"s"`
}

type doc struct {
	S  string  `json:"s"`
	N  int64   `json:"n"`
	B  bool    `json:"b"`
	In inner   `json:"in"`
	L  []inner `json:"l"`
}

// decode reads b into d by hand as a decoder built on jsonscan does,
// falling back to json.Unmarshal (on any duplicate name too: a nested
// object given twice merges in json.Unmarshal).
func decode(b []byte, d *doc) error {
	s := jsonscan.New(b)
	readInner := func(in *inner) error {
		seen := 0
		return s.Object(func(name []byte) error {
			switch string(name) {
			case "n":
				seen++
				return s.Int64(&in.N)
			case "s":
				seen++
				return s.String(&in.S)
			}
			return s.Unknown(name, "n", "s")
		})
	}
	var seen [5]bool
	once := func(i int) error {
		if seen[i] {
			return jsonscan.ErrFallback
		}
		seen[i] = true
		return nil
	}
	err := s.Object(func(name []byte) error {
		switch string(name) {
		case "s":
			return s.String(&d.S)
		case "n":
			return s.Int64(&d.N)
		case "b":
			return s.Bool(&d.B)
		case "in":
			if err := once(3); err != nil {
				return err
			}
			return readInner(&d.In)
		case "l":
			if err := once(4); err != nil || s.Null() {
				return jsonscan.ErrFallback
			}
			d.L = []inner{}
			return s.Array(func() error {
				d.L = append(d.L, inner{})
				return readInner(&d.L[len(d.L)-1])
			})
		}
		return s.Unknown(name, "s", "n", "b", "in", "l")
	})
	if err == nil {
		err = s.End()
	}
	if err != nil {
		*d = doc{}
		return json.Unmarshal(b, d)
	}
	return nil
}

// FuzzScannerMatchesUnmarshal: a decoder built on the scanner, falling
// back where it says so, gives json.Unmarshal's result and fails where it
// fails.
func FuzzScannerMatchesUnmarshal(f *testing.F) {
	for _, seed := range []string{
		`{"s":"a\"b\\c\/\u00e9\ud83d\ude00\n","n":-12,"b":true,"in":{"n":3,"s":"x"},"l":[{"n":1},{"s":"y","z":[1,2.5e3,{"q":null}]}]}`,
		`{"S":"x"}`, `{"n":1.5}`, `{"n":01}`, `{"s":"\ud800"}`, `{"s":"\xff"}`, `{"in":{"n":1},"in":{"s":"a"}}`,
		`{"s":null,"n":null,"b":null}`, ` {"l":[]} `, `{"l":null}`, `{"x":{"y":[[[]]]}}`, `{"n":123456789012345678901}`,
		`{}{}`, `null`, `[]`, `{"s":"\u0041\u00"}`, `{"b":tru}`, `{"n":-}`, `{"a":1,}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var hand, refl doc
		herr, rerr := decode(b, &hand), json.Unmarshal(b, &refl)
		if (herr != nil) != (rerr != nil) || (herr == nil && !reflect.DeepEqual(hand, refl)) {
			t.Fatalf("%q:\nhand       %+v (%v)\nreflection %+v (%v)", b, hand, herr, refl, rerr)
		}
	})
}

// TestScannerReadsWithoutFallingBack: the common case is read by hand.
func TestScannerReadsWithoutFallingBack(t *testing.T) {
	s := jsonscan.New([]byte(` {"s":"a\u00e9\ud83d\ude00\t","n":-7,"skip":[1,{"a":"b"},true,null,-2.5e-3],"b":false} `))
	var str string
	var n int64
	b := true
	err := s.Object(func(name []byte) error {
		switch string(name) {
		case "s":
			return s.String(&str)
		case "n":
			return s.Int64(&n)
		case "b":
			return s.Bool(&b)
		}
		return s.Unknown(name, "s", "n", "b")
	})
	if err != nil || s.End() != nil {
		t.Fatalf("fell back: %v", err)
	}
	if str != "a\u00e9\U0001F600\t" || n != -7 || b {
		t.Fatalf("read %q %d %v", str, n, b)
	}
}
