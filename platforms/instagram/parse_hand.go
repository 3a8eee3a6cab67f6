package instagram

import (
	"github.com/pulsehq/pulse/internal/jsonscan"
	"github.com/pulsehq/pulse/platforms/internal/meta"
)

// The normalizer parses an account body and a media page per fetch: these
// decoders read them without reflection, falling back to DecodeObject for
// anything they do not read exactly as it would (httpx.DecodeObjectByHand;
// FuzzHandParsersMatchReflection compares them).

func decodeUser(s *jsonscan.Scanner, u *userBody) error {
	return s.Object(func(name []byte) error {
		switch string(name) {
		case "id":
			return s.String(&u.ID)
		case "user_id":
			return meta.DecodeID(s, &u.UserID)
		case "username":
			return s.String(&u.Username)
		case "followers_count":
			return s.Int64(&u.FollowersCount)
		case "follows_count":
			return s.Int64(&u.FollowsCount)
		case "media_count":
			return s.Int64(&u.MediaCount)
		}
		return s.Unknown(name, "id", "user_id", "username", "followers_count", "follows_count", "media_count")
	})
}

func decodeMedia(s *jsonscan.Scanner, b *mediaBody) error {
	seenData := false
	return s.Object(func(name []byte) error {
		switch string(name) {
		case "data":
			return jsonscan.Slice(s, &seenData, &b.Data, 8, func(i int) error {
				m := &b.Data[i]
				return s.Object(func(name []byte) error {
					switch string(name) {
					case "id":
						return s.String(&m.ID)
					case "caption":
						return s.String(&m.Caption)
					case "like_count":
						return s.Int64(&m.LikeCount)
					case "comments_count":
						return s.Int64(&m.CommentsCount)
					case "timestamp":
						return s.String(&m.Timestamp)
					case "permalink":
						return s.String(&m.Permalink)
					case "media_type":
						return s.String(&m.MediaType)
					case "insights":
						return meta.DecodePostInsights(s, &m.Insights)
					}
					return s.Unknown(name, "id", "caption", "like_count", "comments_count", "timestamp", "permalink", "media_type", "insights")
				})
			})
		case "paging":
			return meta.DecodePaging(s, &b.Paging)
		}
		return s.Unknown(name, "data", "paging")
	})
}
