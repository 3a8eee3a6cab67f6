package facebook

import (
	"github.com/pulsehq/pulse/internal/jsonscan"
	"github.com/pulsehq/pulse/platforms/internal/meta"
)

// The normalizer parses a Page body and a posts page per fetch: these
// decoders read them without reflection, falling back to DecodeObject for
// anything they do not read exactly as it would (httpx.DecodeObjectByHand;
// FuzzHandParsersMatchReflection compares them).

// optInt64 reads a pointer-valued count: null sets it to nil.
func optInt64(s *jsonscan.Scanner, dst **int64) error {
	if s.Null() {
		*dst = nil
		return nil
	}
	var n int64
	if err := s.Int64(&n); err != nil {
		return err
	}
	*dst = &n
	return nil
}

func decodePageBody(s *jsonscan.Scanner, p *pageBody) error {
	return s.Object(func(name []byte) error {
		switch string(name) {
		case "id":
			return s.String(&p.ID)
		case "name":
			return s.String(&p.Name)
		case "username":
			return s.String(&p.Username)
		case "followers_count":
			return optInt64(s, &p.FollowersCount)
		case "fan_count":
			return optInt64(s, &p.FanCount)
		}
		return s.Unknown(name, "id", "name", "username", "followers_count", "fan_count")
	})
}

func decodeEdge(s *jsonscan.Scanner, e *edgeSummary) error {
	return meta.Object(s, func(name []byte) error {
		if string(name) != "summary" {
			return s.Unknown(name, "summary")
		}
		return meta.Object(s, func(name []byte) error {
			if string(name) != "total_count" {
				return s.Unknown(name, "total_count")
			}
			return s.Int64(&e.Summary.TotalCount)
		})
	})
}

func decodePosts(s *jsonscan.Scanner, b *postsBody) error {
	seenData := false
	return s.Object(func(name []byte) error {
		switch string(name) {
		case "data":
			return jsonscan.Slice(s, &seenData, &b.Data, 8, func(i int) error {
				p := &b.Data[i]
				return s.Object(func(name []byte) error {
					switch string(name) {
					case "id":
						return s.String(&p.ID)
					case "message":
						return s.String(&p.Message)
					case "story":
						return s.String(&p.Story)
					case "created_time":
						return s.String(&p.CreatedTime)
					case "permalink_url":
						return s.String(&p.PermalinkURL)
					case "shares":
						return meta.Object(s, func(name []byte) error {
							if string(name) != "count" {
								return s.Unknown(name, "count")
							}
							return s.Int64(&p.Shares.Count)
						})
					case "reactions":
						return decodeEdge(s, &p.Reactions)
					case "comments":
						return decodeEdge(s, &p.Comments)
					case "insights":
						return meta.DecodePostInsights(s, &p.Insights)
					}
					return s.Unknown(name, "id", "message", "story", "created_time", "permalink_url", "shares", "reactions", "comments", "insights")
				})
			})
		case "paging":
			return meta.DecodePaging(s, &b.Paging)
		}
		return s.Unknown(name, "data", "paging")
	})
}
