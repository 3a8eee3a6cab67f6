package topics

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Value describes one value type on the wire, for docs and schemas.
type Value struct {
	Name    string   // Go type name, also the schema's title
	Topics  []string // topics carrying it
	Key     string   // what the record key is
	Version int      // current schema version
	Example any      // a zero value of the type, for reflection
}

// Values lists every value type Pulse publishes.
var Values = []Value{
	{"FetchRequest", []string{FetchRequests}, "link ID", FetchRequestVersion, FetchRequest{}},
	{"RawPayload", []string{RawPayloads}, "link ID", RawPayloadVersion, RawPayload{}},
	{"AccountSnapshot", []string{AccountSnapshots}, "link ID", AccountSnapshotVersion, AccountSnapshot{}},
	{"Post", []string{Posts}, "link ID", PostVersion, Post{}},
	{"FetchOutcome", []string{FetchOutcomes}, "link ID", FetchOutcomeVersion, FetchOutcome{}},
	{"UserAggregate", []string{UserAggregates}, "user ID", UserAggregateVersion, UserAggregate{}},
	{"DeadLetter", []string{DeadLetters}, "the original record's key", DeadLetterVersion, DeadLetter{}},
	{"UserDeletion", []string{UserDeletions}, "user ID", UserDeletionVersion, UserDeletion{}},
	{"LinkDeletion", []string{LinkDeletions}, "link ID", LinkDeletionVersion, LinkDeletion{}},
	{"AnalyticsChange", []string{AnalyticsChanges}, "user ID", AnalyticsChangeVersion, AnalyticsChange{}},
}

// JSONSchema returns the JSON Schema (draft 2020-12) of v's type. Fields
// without omitempty are required; additional properties are allowed, since
// minor versions add fields.
func JSONSchema(v Value) ([]byte, error) {
	s := schemaOf(reflect.TypeOf(v.Example))
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = fmt.Sprintf("https://pulse.dev/schemas/%s.v%d.json", v.Name, v.Version)
	s["title"] = v.Name
	s["description"] = fmt.Sprintf("Pulse %s, schema version %d, on %s, keyed by %s.", v.Name, v.Version, strings.Join(v.Topics, ", "), v.Key)
	return json.MarshalIndent(s, "", "  ")
}

var timeType = reflect.TypeOf(time.Time{})

func schemaOf(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return map[string]any{"type": "string", "contentEncoding": "base64"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Ptr:
		return schemaOf(t.Elem())
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = schemaOf(f.Type)
			if f.Tag.Get("schema") == "body" {
				props[name] = bodySchema(f.Type)
			}
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, name)
			}
		}
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": true}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	panic("topics: no JSON Schema for " + t.String())
}

// bodySchema is the schema of a platform response body (t is []byte) or a
// list of them ([][]byte): the body itself when it is a JSON object or
// array, else (or in version 1) a base64 string.
func bodySchema(t reflect.Type) map[string]any {
	body := map[string]any{
		"description": "the response body: itself when it is a JSON object or array, else base64 (always base64 in version 1)",
		"anyOf": []any{
			map[string]any{"type": "object"},
			map[string]any{"type": "array"},
			map[string]any{"type": "string", "contentEncoding": "base64"},
		},
	}
	if t.Elem().Kind() == reflect.Slice {
		return map[string]any{"type": "array", "items": body}
	}
	return body
}
