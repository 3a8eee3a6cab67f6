package x

import (
	"github.com/pulsehq/pulse/internal/jsonscan"
)

// The normalizer parses an account body and a posts page per fetch: these
// decoders read them without reflection, falling back to DecodeObject for
// anything they do not read exactly as it would (httpx.DecodeObjectByHand;
// FuzzHandParsersMatchReflection compares them).

// object reads a struct-valued field: null leaves it alone, and a
// repeated name decodes into it again, as json.Unmarshal does.
func object(s *jsonscan.Scanner, field func(name []byte) error) error {
	if s.Null() {
		return nil
	}
	return s.Object(field)
}

func decodeAccount(s *jsonscan.Scanner, b *accountBody) error {
	return s.Object(func(name []byte) error {
		if string(name) != "data" {
			return s.Unknown(name, "data")
		}
		d := &b.Data
		return object(s, func(name []byte) error {
			switch string(name) {
			case "id":
				return s.String(&d.ID)
			case "name":
				return s.String(&d.Name)
			case "username":
				return s.String(&d.Username)
			case "public_metrics":
				m := &d.PublicMetrics
				return object(s, func(name []byte) error {
					switch string(name) {
					case "followers_count":
						return s.Int64(&m.FollowersCount)
					case "following_count":
						return s.Int64(&m.FollowingCount)
					case "tweet_count":
						return s.Int64(&m.TweetCount)
					case "listed_count":
						return s.Int64(&m.ListedCount)
					case "like_count":
						return s.Int64(&m.LikeCount)
					}
					return s.Unknown(name, "followers_count", "following_count", "tweet_count", "listed_count", "like_count")
				})
			}
			return s.Unknown(name, "id", "name", "username", "public_metrics")
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
					case "text":
						return s.String(&p.Text)
					case "created_at":
						return s.String(&p.CreatedAt)
					case "public_metrics":
						m := &p.PublicMetrics
						return object(s, func(name []byte) error {
							switch string(name) {
							case "retweet_count":
								return s.Int64(&m.RetweetCount)
							case "reply_count":
								return s.Int64(&m.ReplyCount)
							case "like_count":
								return s.Int64(&m.LikeCount)
							case "quote_count":
								return s.Int64(&m.QuoteCount)
							case "impression_count":
								return s.Int64(&m.ImpressionCount)
							case "bookmark_count":
								return s.Int64(&m.BookmarkCount)
							}
							return s.Unknown(name, "retweet_count", "reply_count", "like_count", "quote_count", "impression_count", "bookmark_count")
						})
					}
					return s.Unknown(name, "id", "text", "created_at", "public_metrics")
				})
			})
		case "meta":
			m := &b.Meta
			return object(s, func(name []byte) error {
				switch string(name) {
				case "result_count":
					var n int64 = int64(m.ResultCount)
					if err := s.Int64(&n); err != nil {
						return err
					}
					m.ResultCount = int(n)
					return nil
				case "newest_id":
					return s.String(&m.NewestID)
				case "oldest_id":
					return s.String(&m.OldestID)
				case "next_token":
					return s.String(&m.NextToken)
				}
				return s.Unknown(name, "result_count", "newest_id", "oldest_id", "next_token")
			})
		}
		return s.Unknown(name, "data", "meta")
	})
}
