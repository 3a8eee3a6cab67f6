// Package jsonscan reads JSON documents held in a byte slice, for the
// hand-written decoders of hot paths (the normalizer's platform bodies,
// the sink's events). It decodes the common case only, and says so: every
// method returns ErrFallback on anything it does not read exactly as
// encoding/json's Unmarshal would (an escaped or non-ASCII name, a lone
// UTF-16 surrogate, invalid UTF-8, a number with a fraction or exponent
// read as an integer, deep nesting, invalid JSON), and the caller then
// decodes the same bytes with json.Unmarshal, so that the caller's result
// is always json.Unmarshal's. Matching names (json.Unmarshal also matches
// them in another case) and duplicates are the caller's: see Unknown.
package jsonscan

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrFallback makes a hand-written decoder hand the document over to
// json.Unmarshal.
var ErrFallback = errors.New("jsonscan: not handled by hand")

// maxDepth bounds the nesting Skip follows; deeper documents fall back.
const maxDepth = 32

// Scanner reads one JSON document. The zero value is not usable; use New.
type Scanner struct {
	b []byte
	i int
}

// New returns a Scanner over b. Strings it returns never alias b.
func New(b []byte) *Scanner { return &Scanner{b: b} }

func (s *Scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, 0 at the end.
func (s *Scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// Null reports whether the next value is null, and consumes it if so.
func (s *Scanner) Null() bool {
	if s.peek() == 'n' && s.literal("null") {
		return true
	}
	return false
}

func (s *Scanner) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// End checks that only white space follows the document.
func (s *Scanner) End() error {
	s.ws()
	if s.i != len(s.b) {
		return ErrFallback
	}
	return nil
}

// Object reads an object, calling field with each name (which aliases
// the input and is valid until field returns) to read its value. A name
// that is escaped or not ASCII falls back.
func (s *Scanner) Object(field func(name []byte) error) error {
	if s.peek() != '{' {
		return ErrFallback
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return ErrFallback
		}
		start := s.i + 1
		j := start
		for j < len(s.b) && s.b[j] != '"' {
			if c := s.b[j]; c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				return ErrFallback
			}
			j++
		}
		if j >= len(s.b) {
			return ErrFallback
		}
		name := s.b[start:j]
		s.i = j + 1
		if s.peek() != ':' {
			return ErrFallback
		}
		s.i++
		if err := field(name); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return ErrFallback
		}
	}
}

// Array reads an array, calling elem to read each element.
func (s *Scanner) Array(elem func() error) error {
	if s.peek() != '[' {
		return ErrFallback
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return ErrFallback
		}
	}
}

// Slice reads an array into *dst as json.Unmarshal reads one into a
// slice: each element appended zeroed, then read by elem(i) at
// (*dst)[i]; an empty array leaves an empty, non-nil slice of capacity
// capHint. *seen says whether the field was read before in this object:
// a repeated field, or null, falls back (json.Unmarshal keeps or clears
// what is there). It sets *seen.
func Slice[T any](s *Scanner, seen *bool, dst *[]T, capHint int, elem func(i int) error) error {
	if *seen || s.Null() {
		return ErrFallback
	}
	*seen = true
	*dst = slices.Grow((*dst)[:0:0], capHint)
	return s.Array(func() error {
		*dst = append(*dst, *new(T))
		return elem(len(*dst) - 1)
	})
}

// String reads a string into dst; null leaves dst alone, as in
// json.Unmarshal.
func (s *Scanner) String(dst *string) error {
	if s.Null() {
		return nil
	}
	raw, err := s.quoted()
	if err != nil {
		return err
	}
	str, err := unquote(raw)
	if err != nil {
		return err
	}
	*dst = str
	return nil
}

// Quoted reads a string and returns it with its quotes, as in the input
// (for a type's UnmarshalJSON), or nil for null. An escaped string falls
// back.
func (s *Scanner) Quoted() ([]byte, error) {
	if s.Null() {
		return nil, nil
	}
	raw, err := s.quoted()
	if err != nil {
		return nil, err
	}
	for _, c := range raw {
		if c == '\\' {
			return nil, ErrFallback
		}
	}
	return raw, nil
}

// quoted consumes a string and returns it with its quotes. It checks
// the escapes' syntax, not their meaning.
func (s *Scanner) quoted() ([]byte, error) {
	if s.peek() != '"' {
		return nil, ErrFallback
	}
	start := s.i
	j := s.i + 1
	ascii := true
	for {
		if j >= len(s.b) {
			return nil, ErrFallback
		}
		c := s.b[j]
		switch {
		case c == '"':
			raw := s.b[start : j+1]
			if !ascii && !utf8.Valid(raw) {
				return nil, ErrFallback
			}
			s.i = j + 1
			return raw, nil
		case c == '\\':
			if j+1 >= len(s.b) {
				return nil, ErrFallback
			}
			switch s.b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(s.b) {
					return nil, ErrFallback
				}
				for _, h := range s.b[j+2 : j+6] {
					if hexVal(h) < 0 {
						return nil, ErrFallback
					}
				}
				j += 6
			default:
				return nil, ErrFallback
			}
		case c < 0x20:
			return nil, ErrFallback
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
			j++
		}
	}
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func hex4(b []byte) rune {
	return rune(hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3]))
}

// unquote decodes a string checked by quoted. A lone surrogate (which
// json.Unmarshal replaces) falls back.
func unquote(raw []byte) (string, error) {
	body := raw[1 : len(raw)-1]
	k := -1
	for i, c := range body {
		if c == '\\' {
			k = i
			break
		}
	}
	if k < 0 {
		return string(body), nil
	}
	var sb strings.Builder
	sb.Grow(len(body))
	sb.Write(body[:k])
	for i := k; i < len(body); {
		c := body[i]
		if c != '\\' {
			sb.WriteByte(c)
			i++
			continue
		}
		switch e := body[i+1]; e {
		case '"', '\\', '/':
			sb.WriteByte(e)
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r := hex4(body[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 > len(body) || body[i] != '\\' || body[i+1] != 'u' {
					return "", ErrFallback
				}
				r = utf16.DecodeRune(r, hex4(body[i+2:i+6]))
				if r == utf8.RuneError {
					return "", ErrFallback
				}
				i += 6
			}
			sb.WriteRune(r)
			continue
		}
		i += 2
	}
	return sb.String(), nil
}

// Number consumes a number and returns its text.
func (s *Scanner) Number() ([]byte, error) {
	s.ws()
	start, j := s.i, s.i
	if j < len(s.b) && s.b[j] == '-' {
		j++
	}
	switch {
	case j < len(s.b) && s.b[j] == '0':
		j++
	case j < len(s.b) && s.b[j] >= '1' && s.b[j] <= '9':
		for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
			j++
		}
	default:
		return nil, ErrFallback
	}
	if j < len(s.b) && s.b[j] == '.' {
		j++
		d := j
		for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
			j++
		}
		if j == d {
			return nil, ErrFallback
		}
	}
	if j < len(s.b) && (s.b[j] == 'e' || s.b[j] == 'E') {
		j++
		if j < len(s.b) && (s.b[j] == '+' || s.b[j] == '-') {
			j++
		}
		d := j
		for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
			j++
		}
		if j == d {
			return nil, ErrFallback
		}
	}
	s.i = j
	return s.b[start:j], nil
}

// Int64 reads an integer into dst; null leaves dst alone. A fraction, an
// exponent or more than 18 digits fall back.
func (s *Scanner) Int64(dst *int64) error {
	if s.Null() {
		return nil
	}
	num, err := s.Number()
	if err != nil {
		return err
	}
	n, ok := ParseInt(num)
	if !ok {
		return ErrFallback
	}
	*dst = n
	return nil
}

// ParseInt parses a JSON number that is an integer of at most 18 digits.
func ParseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// Bool reads a boolean into dst; null leaves dst alone.
func (s *Scanner) Bool(dst *bool) error {
	switch s.peek() {
	case 't':
		if s.literal("true") {
			*dst = true
			return nil
		}
	case 'f':
		if s.literal("false") {
			*dst = false
			return nil
		}
	case 'n':
		if s.literal("null") {
			return nil
		}
	}
	return ErrFallback
}

// RawValue reads any value and returns it as in the input (it aliases
// the input).
func (s *Scanner) RawValue() ([]byte, error) {
	s.ws()
	start := s.i
	if err := s.skip(0); err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

// Skip reads any value and discards it.
func (s *Scanner) Skip() error { return s.skip(0) }

func (s *Scanner) skip(depth int) error {
	if depth > maxDepth {
		return ErrFallback
	}
	switch c := s.peek(); {
	case c == '{':
		return s.Object(func([]byte) error { return s.skip(depth + 1) })
	case c == '[':
		return s.Array(func() error { return s.skip(depth + 1) })
	case c == '"':
		_, err := s.quoted()
		return err
	case c == 't' && s.literal("true"), c == 'f' && s.literal("false"), c == 'n' && s.literal("null"):
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := s.Number()
		return err
	}
	return ErrFallback
}

// Unknown handles a name the caller does not know: it falls back if the
// name matches one of known but for case (json.Unmarshal matches names
// in any case), else skips the value.
func (s *Scanner) Unknown(name []byte, known ...string) error {
	for _, k := range known {
		if strings.EqualFold(string(name), k) {
			return ErrFallback
		}
	}
	return s.Skip()
}
