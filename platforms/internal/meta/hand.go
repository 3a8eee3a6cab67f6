package meta

import (
	"encoding/json"

	"github.com/pulsehq/pulse/internal/jsonscan"
)

// Hand-written decoders of the Graph API's shared shapes, for the
// connectors' own (see httpx.DecodeObjectByHand): they fall back to
// json.Unmarshal wherever they would not read exactly as it does.

// Object reads a struct-valued field: null leaves it alone, and a
// repeated name decodes into it again, as json.Unmarshal does.
func Object(s *jsonscan.Scanner, field func(name []byte) error) error {
	if s.Null() {
		return nil
	}
	return s.Object(field)
}

// DecodePaging reads a paging field.
func DecodePaging(s *jsonscan.Scanner, p *Paging) error {
	return Object(s, func(name []byte) error {
		switch string(name) {
		case "cursors":
			c := &p.Cursors
			return Object(s, func(name []byte) error {
				switch string(name) {
				case "before":
					return s.String(&c.Before)
				case "after":
					return s.String(&c.After)
				}
				return s.Unknown(name, "before", "after")
			})
		case "next":
			return s.String(&p.Next)
		}
		return s.Unknown(name, "cursors", "next")
	})
}

// DecodePostInsights reads a post's insights field: null sets it to nil;
// an object is read into a new PostInsights (a repeated field, which
// json.Unmarshal merges, falls back).
func DecodePostInsights(s *jsonscan.Scanner, p **PostInsights) error {
	if s.Null() {
		*p = nil
		return nil
	}
	if *p != nil {
		return jsonscan.ErrFallback
	}
	in := new(PostInsights)
	seenData := false
	err := s.Object(func(name []byte) error {
		if string(name) != "data" {
			return s.Unknown(name, "data")
		}
		return jsonscan.Slice(s, &seenData, &in.Data, 4, func(i int) error {
			d := &in.Data[i]
			seenValues := false
			return s.Object(func(name []byte) error {
				switch string(name) {
				case "name":
					return s.String(&d.Name)
				case "values":
					return jsonscan.Slice(s, &seenValues, &d.Values, 1, func(i int) error {
						v := &d.Values[i]
						return Object(s, func(name []byte) error {
							if string(name) != "value" {
								return s.Unknown(name, "value")
							}
							// A number as its text; null leaves it
							// alone; a string (json.Unmarshal takes a
							// quoted number too) falls back.
							if s.Null() {
								return nil
							}
							num, err := s.Number()
							if err != nil {
								return err
							}
							v.Value = json.Number(num)
							return nil
						})
					})
				}
				return s.Unknown(name, "name", "values")
			})
		})
	})
	if err != nil {
		return err
	}
	*p = in
	return nil
}

// DecodeID reads an ID given as a string or null (a number falls back).
func DecodeID(s *jsonscan.Scanner, id *ID) error {
	str := string(*id)
	if err := s.String(&str); err != nil {
		return err
	}
	*id = ID(str)
	return nil
}
