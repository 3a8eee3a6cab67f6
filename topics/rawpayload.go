package topics

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	json "github.com/go-json-experiment/json/v1"

	"github.com/pulsehq/pulse/internal/jsonscan"
)

// RawPayload's JSON encoding is written and read by hand rather than by
// reflection: the normalizer decodes every fetch, and the bodies are most
// of its bytes. Version 2 embeds each body as JSON (a body that is a JSON
// object or array, as every platform's is, is written as it is); version 1
// wrote each body as a base64 string, which a reader had to scan as a
// string and then decode, before parsing the JSON inside. The decoder
// reads both: a body given as a JSON string is base64, any other JSON
// value is the body itself. Version 2 still writes a body that is not a
// JSON object or array (an error page, invalid UTF-8) as base64.

// isJSONBody reports whether body can be embedded as it is: a valid JSON
// object or array (surrounding whitespace allowed).
func isJSONBody(body []byte) bool {
	t := bytes.TrimLeft(body, " \t\r\n")
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return false
	}
	return jsontext.Value(body).IsValid()
}

func appendBody(b, body []byte) []byte {
	switch {
	case body == nil:
		return append(b, "null"...)
	case isJSONBody(body):
		return append(b, bytes.Trim(body, " \t\r\n")...)
	default:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, body)
		return append(b, '"')
	}
}

func appendBodies(b []byte, name string, bodies [][]byte) []byte {
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":[`...)
	for i, body := range bodies {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendBody(b, body)
	}
	return append(b, ']')
}

// appendJSON appends p's JSON encoding (version 2) to b.
func (p *RawPayload) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(p.V), 10)
	b = appendField(b, "request_id", p.RequestID)
	b = appendField(b, "link_id", p.LinkID)
	b = appendField(b, "user_id", p.UserID)
	b = appendField(b, "platform", string(p.Platform))
	b = appendField(b, "account_id", p.AccountID)
	var err error
	if b, err = appendTimeField(b, "fetched_at", p.FetchedAt); err != nil {
		return nil, fmt.Errorf("topics: encode RawPayload: %w", err)
	}
	b = append(b, `,"account":`...)
	b = appendBody(b, p.Account)
	if len(p.PostPages) > 0 {
		b = appendBodies(b, "post_pages", p.PostPages)
	}
	if len(p.Insights) > 0 {
		b = appendBodies(b, "insights", p.Insights)
	}
	if p.PostsSkipped {
		b = append(b, `,"posts_skipped":true`...)
	}
	if p.PostsIncremental {
		b = append(b, `,"posts_incremental":true`...)
	}
	return append(b, '}'), nil
}

// DecodeRawPayload decodes a RawPayload of any version up to
// RawPayloadVersion in one pass, and returns with it the top-level fields
// it does not know, sorted (fields a newer version added; they are
// ignored). Errors match ErrMalformed or ErrUnknownVersion, as
// RawPayloadCodec.Unmarshal's do. The bodies are copies: p does not alias
// b.
func DecodeRawPayload(b []byte) (p *RawPayload, unknown []string, err error) {
	p = new(RawPayload)
	if unknown, err = p.decodeJSON(b); err != nil {
		return nil, nil, fmt.Errorf("%w: *topics.RawPayload: %v", ErrMalformed, err)
	}
	if p.V < 1 || p.V > RawPayloadVersion {
		return nil, nil, fmt.Errorf("%w: *topics.RawPayload version %d (this build knows up to %d)", ErrUnknownVersion, p.V, RawPayloadVersion)
	}
	return p, unknown, nil
}

// decodeJSON decodes b into p, field by field, with encoding/json's
// leniency (duplicate names: the last wins; null leaves a field alone;
// invalid UTF-8 in strings is kept), and returns the unknown names. The
// common case is read by decodeByHand; whatever it hands over is read
// by decodeTokens (FuzzRawPayloadByHand compares them).
func (p *RawPayload) decodeJSON(b []byte) ([]string, error) {
	if unknown, err := p.decodeByHand(b); err == nil {
		return unknown, nil
	}
	*p = RawPayload{}
	return p.decodeTokens(b)
}

// decodeByHand reads b with jsonscan, returning jsonscan.ErrFallback for
// anything decodeTokens would read otherwise or reject: an escaped or
// non-ASCII name, invalid UTF-8, a version 1 (base64) body, an error.
func (p *RawPayload) decodeByHand(b []byte) ([]string, error) {
	s := jsonscan.New(b)
	var unknown []string
	body := func(dst *[]byte) error {
		if s.Null() {
			return nil
		}
		raw, err := s.RawValue()
		if err != nil || (raw[0] != '{' && raw[0] != '[') {
			return jsonscan.ErrFallback
		}
		*dst = bytes.Clone(raw)
		return nil
	}
	bodies := func(dst *[][]byte) error {
		if s.Null() {
			return nil
		}
		var out [][]byte
		err := s.Array(func() error {
			var b []byte
			if err := body(&b); err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
		if err != nil {
			return err
		}
		*dst = out
		return nil
	}
	err := s.Object(func(name []byte) error {
		switch string(name) {
		case "v":
			n := int64(p.V)
			if err := s.Int64(&n); err != nil {
				return err
			}
			if n != int64(int(n)) {
				return jsonscan.ErrFallback
			}
			p.V = int(n)
			return nil
		case "request_id":
			return s.String(&p.RequestID)
		case "link_id":
			return s.String(&p.LinkID)
		case "user_id":
			return s.String(&p.UserID)
		case "platform":
			var str string
			if err := s.String(&str); err != nil {
				return err
			}
			if str != "" {
				p.Platform = Platform(str)
			}
			return nil
		case "account_id":
			return s.String(&p.AccountID)
		case "fetched_at":
			var str string
			if err := s.String(&str); err != nil {
				return err
			}
			if str != "" && p.FetchedAt.UnmarshalText([]byte(str)) != nil {
				return jsonscan.ErrFallback
			}
			return nil
		case "account":
			return body(&p.Account)
		case "post_pages":
			return bodies(&p.PostPages)
		case "insights":
			return bodies(&p.Insights)
		case "posts_skipped":
			return s.Bool(&p.PostsSkipped)
		case "posts_incremental":
			return s.Bool(&p.PostsIncremental)
		}
		if n := string(name); !slices.Contains(unknown, n) {
			unknown = append(unknown, n)
		}
		return s.Skip()
	})
	if err == nil {
		err = s.End()
	}
	if err != nil {
		return nil, err
	}
	sort.Strings(unknown)
	return unknown, nil
}

// decodeTokens is decodeJSON with jsontext, for every case.
func (p *RawPayload) decodeTokens(b []byte) ([]string, error) {
	d := jsontext.NewDecoder(bytes.NewBuffer(b), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if tok, err := d.ReadToken(); err != nil {
		return nil, err
	} else if tok.Kind() != '{' {
		return nil, fmt.Errorf("a %v, not an object", tok.Kind())
	}
	var unknown []string
	for d.PeekKind() == '"' {
		name, err := d.ReadToken()
		if err != nil {
			return nil, err
		}
		switch n := name.String(); n {
		case "v":
			err = readInt(d, n, &p.V)
		case "request_id":
			err = readString(d, n, &p.RequestID)
		case "link_id":
			err = readString(d, n, &p.LinkID)
		case "user_id":
			err = readString(d, n, &p.UserID)
		case "platform":
			var s string
			err = readString(d, n, &s)
			if s != "" {
				p.Platform = Platform(s)
			}
		case "account_id":
			err = readString(d, n, &p.AccountID)
		case "fetched_at":
			var s string
			if err = readString(d, n, &s); err == nil && s != "" {
				if err = p.FetchedAt.UnmarshalText([]byte(s)); err != nil {
					err = fmt.Errorf("fetched_at: %w", err)
				}
			}
		case "account":
			err = readBody(d, n, &p.Account)
		case "post_pages":
			err = readBodies(d, n, &p.PostPages)
		case "insights":
			err = readBodies(d, n, &p.Insights)
		case "posts_skipped":
			err = readBool(d, n, &p.PostsSkipped)
		case "posts_incremental":
			err = readBool(d, n, &p.PostsIncremental)
		default:
			if !slices.Contains(unknown, n) {
				unknown = append(unknown, n)
			}
			err = d.SkipValue()
		}
		if err != nil {
			return nil, err
		}
	}
	if tok, err := d.ReadToken(); err != nil {
		return nil, err
	} else if tok.Kind() != '}' {
		return nil, fmt.Errorf("unexpected %v in object", tok.Kind())
	}
	if _, err := d.ReadToken(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the object")
		}
		return nil, err
	}
	sort.Strings(unknown)
	return unknown, nil
}

func readInt(d *jsontext.Decoder, name string, dst *int) error {
	tok, err := d.ReadToken()
	if err != nil || tok.Kind() == 'n' {
		return err
	}
	if tok.Kind() != '0' {
		return fmt.Errorf("%s: a %v, not a number", name, tok.Kind())
	}
	n, err := strconv.Atoi(tok.String())
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	*dst = n
	return nil
}

func readString(d *jsontext.Decoder, name string, dst *string) error {
	tok, err := d.ReadToken()
	if err != nil || tok.Kind() == 'n' {
		return err
	}
	if tok.Kind() != '"' {
		return fmt.Errorf("%s: a %v, not a string", name, tok.Kind())
	}
	*dst = tok.String()
	return nil
}

func readBool(d *jsontext.Decoder, name string, dst *bool) error {
	tok, err := d.ReadToken()
	if err != nil || tok.Kind() == 'n' {
		return err
	}
	if k := tok.Kind(); k != 't' && k != 'f' {
		return fmt.Errorf("%s: a %v, not a boolean", name, k)
	}
	*dst = tok.Bool()
	return nil
}

// readBody reads one body: a base64 string (version 1, or a body that is
// not JSON), the body itself as JSON, or null.
func readBody(d *jsontext.Decoder, name string, dst *[]byte) error {
	switch d.PeekKind() {
	case 'n':
		_, err := d.ReadToken()
		return err
	case '"':
		tok, err := d.ReadToken()
		if err != nil {
			return err
		}
		s := tok.String()
		body := make([]byte, 0, base64.StdEncoding.DecodedLen(len(s)))
		if body, err = base64.StdEncoding.AppendDecode(body, []byte(s)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		*dst = body
		return nil
	case '{', '[':
		v, err := d.ReadValue()
		if err != nil {
			return err
		}
		*dst = bytes.Clone(v)
		return nil
	default:
		return fmt.Errorf("%s: a %v, not a body", name, d.PeekKind())
	}
}

func readBodies(d *jsontext.Decoder, name string, dst *[][]byte) error {
	tok, err := d.ReadToken()
	if err != nil || tok.Kind() == 'n' {
		return err
	}
	if tok.Kind() != '[' {
		return fmt.Errorf("%s: a %v, not an array", name, tok.Kind())
	}
	var out [][]byte
	for d.PeekKind() != ']' {
		var body []byte
		if err := readBody(d, name, &body); err != nil {
			return err
		}
		out = append(out, body)
	}
	if _, err := d.ReadToken(); err != nil {
		return err
	}
	*dst = out
	return nil
}

// appendField appends ,"name":"value" with value quoted as encoding/json
// quotes it.
func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

// appendTimeField appends ,"name":"t" in RFC 3339 with nanoseconds, as
// time.Time's MarshalJSON writes it.
func appendTimeField(b []byte, name string, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("%s: year %d outside [0,9999]", name, y)
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':', '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// appendString appends s as a JSON string exactly as encoding/json
// (HTML-safe escaping) writes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return appendStringSlow(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendStringSlow(b []byte, s string) []byte {
	q, err := json.Marshal(s) // never fails for a string: invalid UTF-8 is replaced
	if err != nil {
		panic(err)
	}
	return append(b, q...)
}
