package sim

import (
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// The synthetic model. Every value is a pure function of (seed, platform,
// account, time): hashes of those inputs stand in for randomness, so any
// instant can be evaluated directly, in any order, with the same result.

const (
	// modelEpochUnix (2024-01-01 UTC) anchors the follower trend; accounts
	// are created 100 to 1500 days before it.
	modelEpochUnix = 1704067200

	day = 24 * time.Hour
	// maxTimeline is how many of an account's most recent posts the
	// timeline serves, as X's does.
	maxTimeline = 3200
	// dipDays is how many days back a follower dip is still felt.
	dipDays = 7
	// dipTau is the time constant of a dip's recovery.
	dipTau = 18 * time.Hour
)

// Hash tags: one per independent quantity.
const (
	tagAccount uint64 = iota + 1
	tagCreated
	tagBase
	tagGrowth
	tagSeasonAmp
	tagSeasonPhase
	tagDipRate
	tagDip
	tagNoise
	tagFollowing
	tagFollowGrowth
	tagListed
	tagLikesBase
	tagLikesRate
	tagPostEvery
	tagPostJitter
	tagLikeRate
	tagEngTau
	tagEngagement
	tagName
	tagText
	tagPostID
	tagPage
)

// Account is a synthetic account: an X user, a Facebook Page or an
// Instagram professional account. Handle is the platform's user name,
// without "@" (X's and Instagram's username, the Page's username).
type Account struct {
	Platform  topics.Platform `json:"platform"`
	ID        string          `json:"id"`
	Handle    string          `json:"handle"`
	Name      string          `json:"name"`
	CreatedAt time.Time       `json:"created_at"`
}

// AccountMetrics are an account's counters at one instant. Followers is at
// least 1; the others are non-negative. Facebook reports Followers only
// (and a fan_count derived from it); Instagram Followers, Following
// (follows_count) and Posts (media_count).
type AccountMetrics struct {
	Followers int64 `json:"followers"`
	Following int64 `json:"following"`
	// Posts is the number of posts published so far.
	Posts int64 `json:"posts"`
	// Listed is the number of lists the account is on (X).
	Listed int64 `json:"listed"`
	// Likes is the number of posts the account has liked (X).
	Likes int64 `json:"likes"`
}

// Post is a synthetic post and its engagement at one instant. Counters
// grow with the post's age and level off after about a day; they never
// decrease.
//
// The platforms report the counters as: X likes, replies, retweets,
// quotes, bookmarks and impressions; Facebook reactions (Likes), comments
// (Replies) and shares (Reposts); Instagram likes (Likes) and comments
// (Replies).
type Post struct {
	ID        string    `json:"id"`
	AccountID string    `json:"account_id"`
	CreatedAt time.Time `json:"created_at"`
	// Text is the post's text as the platform's API returns it: X escapes
	// & < > as HTML entities, Meta does not; "" for a post without text.
	Text string `json:"text"`
	// Permalink is the post's public URL.
	Permalink   string `json:"permalink"`
	Likes       int64  `json:"likes"`
	Replies     int64  `json:"replies"`
	Reposts     int64  `json:"reposts"`
	Quotes      int64  `json:"quotes"`
	Bookmarks   int64  `json:"bookmarks"`
	Impressions int64  `json:"impressions"`
	// Reach is the number of accounts that saw the post: a share of its
	// impressions (Meta's post insights).
	Reach int64 `json:"reach"`
}

// account is an Account with the parameters of its curves.
type account struct {
	Account
	key uint64

	baseFollowers float64 // at the epoch, before seasonality
	growth        float64 // trend, fraction of base per day
	seasonAmp     float64 // daily seasonality, fraction
	seasonPhase   float64 // in days
	dipRate       float64 // probability of a dip starting on a given day

	baseFollowing float64
	followGrowth  float64 // per day
	listedRatio   float64 // lists per follower
	likesBase     float64
	likesPerDay   float64

	postEvery time.Duration // one post per slot of this length
	likeRate  float64       // final likes per follower, before virality
	engTau    time.Duration // engagement time constant
}

func newAccount(seed int64, p topics.Platform, i int, id string) *account {
	key := hash(uint64(seed), strHash(string(p)), strHash(id), tagAccount)
	u := func(tag uint64) float64 { return unit(hash(key, tag)) }
	created := epoch().Add(-time.Duration(100+u(tagCreated)*1400) * day).Truncate(time.Second)
	adj, noun := pick(adjectives, hash(key, tagName, 1)), pick(nouns, hash(key, tagName, 2))
	return &account{
		Account: Account{
			Platform:  p,
			ID:        id,
			Handle:    fmt.Sprintf("%s%s%d", adj, noun, i+1),
			Name:      title(adj) + " " + title(noun),
			CreatedAt: created,
		},
		key: key,
		// 300 to 50,000 followers, log-uniform.
		baseFollowers: 300 * math.Pow(50000.0/300, u(tagBase)),
		growth:        0.0002 + 0.0018*u(tagGrowth),
		seasonAmp:     0.002 + 0.008*u(tagSeasonAmp),
		seasonPhase:   u(tagSeasonPhase),
		dipRate:       0.02 + 0.08*u(tagDipRate),
		baseFollowing: 50 + 1950*u(tagFollowing),
		followGrowth:  0.05 + 0.5*u(tagFollowGrowth),
		listedRatio:   0.001 + 0.009*u(tagListed),
		likesBase:     100 + 5000*u(tagLikesBase),
		likesPerDay:   1 + 20*u(tagLikesRate),
		postEvery:     (2*time.Hour + time.Duration(u(tagPostEvery)*float64(6*time.Hour))).Truncate(time.Second),
		likeRate:      0.004 + 0.026*u(tagLikeRate),
		engTau:        2*time.Hour + time.Duration(u(tagEngTau)*float64(8*time.Hour)),
	}
}

// followers is the follower count at t: a linear trend from the epoch
// (hyperbolic before it, so it stays positive), a daily cycle, dips that
// recover over about a day, and hourly noise interpolated so the curve is
// continuous.
func (a *account) followers(t time.Time) int64 {
	d := t.Sub(epoch()).Hours() / 24
	trend := 1 + a.growth*d
	if d < 0 {
		trend = 1 / (1 - a.growth*d)
	}
	f := a.baseFollowers * trend

	// Daily seasonality on the time of day.
	f *= 1 + a.seasonAmp*math.Sin(2*math.Pi*(d+a.seasonPhase))

	// Dips: on some days followers drop by 1-5% at a random hour, then
	// recover exponentially.
	today := int64(math.Floor(d))
	for k := today - dipDays; k <= today; k++ {
		h := hash(a.key, tagDip, uint64(k))
		if unit(h) >= a.dipRate {
			continue
		}
		start := epoch().Add(time.Duration(k)*day + time.Duration(unit(hash(h, 1))*float64(day)))
		if since := t.Sub(start); since >= 0 {
			depth := 0.01 + 0.04*unit(hash(h, 2))
			f *= 1 - depth*math.Exp(-float64(since)/float64(dipTau))
		}
	}

	// ±0.1% hourly noise, linearly interpolated.
	hours := t.Sub(epoch()).Hours()
	h0 := math.Floor(hours)
	n0 := unit(hash(a.key, tagNoise, uint64(int64(h0)))) - 0.5
	n1 := unit(hash(a.key, tagNoise, uint64(int64(h0)+1))) - 0.5
	f *= 1 + 0.002*(n0+(n1-n0)*(hours-h0))

	return max(1, int64(math.Round(f)))
}

// metrics returns the account's counters at t.
func (a *account) metrics(t time.Time) AccountMetrics {
	followers := a.followers(t)
	age := max(0, t.Sub(a.CreatedAt).Hours()/24)
	return AccountMetrics{
		Followers: followers,
		Following: int64(a.baseFollowing + a.followGrowth*age),
		Posts:     a.lastSlot(t) + 1,
		Listed:    int64(float64(followers) * a.listedRatio),
		Likes:     int64(a.likesBase + a.likesPerDay*age),
	}
}

// Posts. The account's life is cut into slots of postEvery from its
// creation; slot k holds post k, published at a fixed random point in the
// first 90% of the slot, so creation times strictly increase with k.

// postTime returns when post k is published.
func (a *account) postTime(k int64) time.Time {
	jitter := time.Duration(unit(hash(a.key, tagPostJitter, uint64(k))) * 0.9 * float64(a.postEvery))
	return a.CreatedAt.Add(time.Duration(k)*a.postEvery + jitter).Truncate(time.Second)
}

// lastSlot returns the number of the newest post published at or before t,
// or -1 when there is none.
func (a *account) lastSlot(t time.Time) int64 {
	if t.Before(a.CreatedAt) {
		return -1
	}
	k := int64(t.Sub(a.CreatedAt) / a.postEvery)
	if a.postTime(k).After(t) {
		k--
	}
	return k
}

// firstServed returns the oldest post number the timeline serves at t.
func (a *account) firstServed(t time.Time) int64 {
	return max(0, a.lastSlot(t)-maxTimeline+1)
}

// post returns post k with its engagement at t. Engagement is zero before
// the post is published.
func (a *account) post(k int64, id string, t time.Time) Post {
	created := a.postTime(k)
	p := Post{ID: id, AccountID: a.ID, CreatedAt: created, Text: a.text(k)}
	age := t.Sub(created)
	if age <= 0 {
		return p
	}
	h := hash(a.key, tagEngagement, uint64(k))
	u := func(i uint64) float64 { return unit(hash(h, i)) }

	// Virality: log-normal around 1 (Box-Muller), clamped.
	z := math.Sqrt(-2*math.Log(1-u(1))) * math.Cos(2*math.Pi*u(2))
	viral := min(30, max(0.05, math.Exp(0.9*z)))
	audience := float64(a.followers(created))

	likes := audience * a.likeRate * viral
	replies := likes * (0.03 + 0.12*u(3))
	reposts := likes * (0.08 + 0.17*u(4))
	quotes := reposts * (0.05 + 0.15*u(5))
	bookmarks := likes * (0.02 + 0.06*u(6))
	impressions := audience*(0.3+1.2*u(7))*viral + likes*15

	g := 1 - math.Exp(-float64(age)/float64(a.engTau))
	gi := 1 - math.Exp(-float64(age)/(0.7*float64(a.engTau)))
	p.Likes = int64(likes * g)
	p.Replies = int64(replies * g)
	p.Reposts = int64(reposts * g)
	p.Quotes = int64(quotes * g)
	p.Bookmarks = int64(bookmarks * g)
	p.Impressions = int64(impressions * gi)
	p.Reach = int64(float64(p.Impressions) * (0.5 + 0.3*u(8)))
	return p
}

// text returns post k's text, X-style: & < > are HTML-escaped as the X API
// returns them.
func (a *account) text(k int64) string {
	h := hash(a.key, tagText, uint64(k))
	return pick(openers, hash(h, 1)) + " " + pick(subjects, hash(h, 2)) + pick(tails, hash(h, 3))
}

// epoch returns modelEpochUnix as a time.
func epoch() time.Time { return time.Unix(modelEpochUnix, 0).UTC() }

// Word lists of the synthetic names and texts. Read-only.
var (
	adjectives = []string{"brave", "calm", "eager", "fuzzy", "happy", "jolly", "lucky", "misty", "noble", "proud", "quick", "rusty", "sunny", "witty", "zesty", "bold"}
	nouns      = []string{"otter", "falcon", "maple", "comet", "pixel", "river", "ember", "cedar", "orbit", "panda", "tiger", "koala", "raven", "lotus", "fox", "heron"}
	openers    = []string{"Just shipped", "Thinking about", "Hot take on", "New post:", "Loving", "Quick thread on", "Week recap:", "Can't stop thinking about", "Hiring for", "Lessons from"}
	subjects   = []string{"streaming ETL", "coffee ☕", "Go generics", "our new dashboard", "remote work", "the weekend hike 🏔️", "Kafka consumer lag", "Q&amp;A sessions", "design systems", "city cycling 🚲", "p99 &lt; 50ms", "launch day"}
	tails      = []string{"", " #buildinpublic", " 🚀", " — thoughts?", " #golang", " (more soon)", " 🙌", " #analytics"}
)

// pick returns an element of list chosen by h.
func pick(list []string, h uint64) string { return list[h%uint64(len(list))] }

func title(s string) string { return string(s[0]-'a'+'A') + s[1:] }

// hash mixes its inputs into a well-distributed 64-bit value.
func hash(parts ...uint64) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, p := range parts {
		h = mix64(h ^ mix64(p+0x9e3779b97f4a7c15))
	}
	return h
}

// mix64 is SplitMix64's finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func strHash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// unit maps h to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }
