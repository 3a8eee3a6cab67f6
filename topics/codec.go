package topics

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	// encoding/json's semantics, two to three times faster: codecs are
	// most of the normalizer's and the sink's CPU time.
	json "github.com/go-json-experiment/json/v1"
)

// ErrUnknownVersion is returned when a value's schema version is newer than
// the decoder knows or is missing.
var ErrUnknownVersion = errors.New("topics: unknown schema version")

// ErrMalformed is returned when a value is not valid JSON for its type.
var ErrMalformed = errors.New("topics: malformed value")

// versioned is implemented by every value type in this package.
type versioned interface {
	version() int
	setVersion()
}

func (e *FetchRequest) version() int    { return e.V }
func (e *FetchRequest) setVersion()     { e.V = FetchRequestVersion }
func (e *RawPayload) version() int      { return e.V }
func (e *RawPayload) setVersion()       { e.V = RawPayloadVersion }
func (e *AccountSnapshot) version() int { return e.V }
func (e *AccountSnapshot) setVersion()  { e.V = AccountSnapshotVersion }
func (e *Post) version() int            { return e.V }
func (e *Post) setVersion()             { e.V = PostVersion }
func (e *FetchOutcome) version() int    { return e.V }
func (e *FetchOutcome) setVersion()     { e.V = FetchOutcomeVersion }
func (e *DeadLetter) version() int      { return e.V }
func (e *DeadLetter) setVersion()       { e.V = DeadLetterVersion }
func (e *UserAggregate) version() int   { return e.V }
func (e *UserAggregate) setVersion()    { e.V = UserAggregateVersion }
func (e *UserDeletion) version() int    { return e.V }
func (e *UserDeletion) setVersion()     { e.V = UserDeletionVersion }
func (e *LinkDeletion) version() int    { return e.V }
func (e *LinkDeletion) setVersion()     { e.V = LinkDeletionVersion }
func (e *AnalyticsChange) version() int { return e.V }
func (e *AnalyticsChange) setVersion()  { e.V = AnalyticsChangeVersion }

// Codec encodes and decodes one value type T (a struct of this package).
// Its methods match goka's Codec interface, so a Codec can be passed to goka
// directly; Marshal and Unmarshal are the typed forms for franz-go users.
// A Codec is stateless and safe for concurrent use.
type Codec[T any, PT interface {
	*T
	versioned
}] struct {
	max int
}

// handEncoded is implemented by the types whose JSON encoding is written
// by hand (the busiest topics): appendJSON appends v's encoding to b.
type handEncoded interface {
	appendJSON(b []byte) ([]byte, error)
}

// handDecoded is implemented by the types whose JSON decoding is written
// by hand: decodeJSON decodes b into v and returns the unknown top-level
// names.
type handDecoded interface {
	decodeJSON(b []byte) ([]string, error)
}

// Marshal encodes v, stamping the current schema version.
func (c Codec[T, PT]) Marshal(v *T) ([]byte, error) {
	cp := *v
	PT(&cp).setVersion()
	if h, ok := any(PT(&cp)).(handEncoded); ok {
		return h.appendJSON(make([]byte, 0, 384))
	}
	return json.Marshal(&cp)
}

// Unmarshal decodes b. Unknown fields are ignored. It fails with
// ErrMalformed for invalid JSON and ErrUnknownVersion when the version is
// missing or newer than this build knows.
func (c Codec[T, PT]) Unmarshal(b []byte) (*T, error) {
	v := new(T)
	if err := c.UnmarshalInto(b, v); err != nil {
		return nil, err
	}
	return v, nil
}

// UnmarshalInto is Unmarshal into *v, which must be the zero value (a
// reader of many records decodes into a slice's elements instead of
// allocating each). On error *v is undefined.
func (c Codec[T, PT]) UnmarshalInto(b []byte, v *T) error {
	if h, ok := any(PT(v)).(handDecoded); ok {
		if _, err := h.decodeJSON(b); err != nil {
			return fmt.Errorf("%w: %T: %v", ErrMalformed, v, err)
		}
	} else if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %T: %v", ErrMalformed, v, err)
	}
	if ver := PT(v).version(); ver < 1 || ver > c.max {
		return fmt.Errorf("%w: %T version %d (this build knows up to %d)", ErrUnknownVersion, v, ver, c.max)
	}
	return nil
}

// UnknownFields returns the top-level fields of the JSON object b that T
// does not know, sorted: fields a newer schema version added. It returns
// nil when b is not a JSON object. It only scans b (values are skipped, not
// decoded), so it is cheap next to Unmarshal.
func (c Codec[T, PT]) UnknownFields(b []byte) []string {
	known := fieldNames(reflect.TypeFor[T]())
	d := jsontext.NewDecoder(bytes.NewReader(b), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil
	}
	var out []string
	for d.PeekKind() == '"' {
		name, err := d.ReadToken()
		if err != nil {
			return nil
		}
		if k := name.String(); !known[k] && !slices.Contains(out, k) {
			out = append(out, k)
		}
		if err := d.SkipValue(); err != nil {
			return nil
		}
	}
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '}' {
		return nil
	}
	sort.Strings(out)
	return out
}

var fieldNameCache sync.Map // reflect.Type → map[string]bool

func fieldNames(t reflect.Type) map[string]bool {
	if v, ok := fieldNameCache.Load(t); ok {
		return v.(map[string]bool)
	}
	names := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		if name != "-" {
			names[name] = true
		}
	}
	fieldNameCache.Store(t, names)
	return names
}

// Encode implements goka.Codec. value must be a *T or a T.
func (c Codec[T, PT]) Encode(value any) ([]byte, error) {
	switch v := value.(type) {
	case *T:
		return c.Marshal(v)
	case T:
		return c.Marshal(&v)
	default:
		return nil, fmt.Errorf("topics: codec for %T cannot encode %T", new(T), value)
	}
}

// Decode implements goka.Codec; it returns a *T.
func (c Codec[T, PT]) Decode(data []byte) (any, error) { return c.Unmarshal(data) }

// Codecs, one per value type.
var (
	FetchRequestCodec    = Codec[FetchRequest, *FetchRequest]{max: FetchRequestVersion}
	RawPayloadCodec      = Codec[RawPayload, *RawPayload]{max: RawPayloadVersion}
	AccountSnapshotCodec = Codec[AccountSnapshot, *AccountSnapshot]{max: AccountSnapshotVersion}
	PostCodec            = Codec[Post, *Post]{max: PostVersion}
	FetchOutcomeCodec    = Codec[FetchOutcome, *FetchOutcome]{max: FetchOutcomeVersion}
	DeadLetterCodec      = Codec[DeadLetter, *DeadLetter]{max: DeadLetterVersion}
	UserAggregateCodec   = Codec[UserAggregate, *UserAggregate]{max: UserAggregateVersion}
	UserDeletionCodec    = Codec[UserDeletion, *UserDeletion]{max: UserDeletionVersion}
	LinkDeletionCodec    = Codec[LinkDeletion, *LinkDeletion]{max: LinkDeletionVersion}
	AnalyticsChangeCodec = Codec[AnalyticsChange, *AnalyticsChange]{max: AnalyticsChangeVersion}
)
