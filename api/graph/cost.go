package graph

import (
	"time"
)

// Query cost: the weights gqlgen's complexity limit adds up before a query
// runs. A field's cost is 1 plus its children's, except where a resolver
// calls a store or returns a list whose length its arguments decide: those
// cost StoreCallCost plus their children times the number of items they
// may return. A metrics series is weighted by its buckets (range ÷ grain),
// so an hourly month costs about 30 times a daily one.
const (
	// StoreCallCost is what one database round trip costs.
	StoreCallCost = 20
	// linkedAccountsEstimate is how many accounts a platform's links list
	// is costed at.
	linkedAccountsEstimate = 4
	// maxBuckets caps the bucket estimate so the arithmetic cannot
	// overflow; any range that long is refused anyway.
	maxBuckets = 1 << 20
)

// Complexity returns the cost functions of Pulse's schema, for
// Config.Complexity. Fields without one cost 1 plus their children.
func Complexity() ComplexityRoot {
	var c ComplexityRoot
	c.Query.Metrics = func(child int, grain Grain, from, to time.Time, _ []Platform) int {
		return StoreCallCost + Buckets(grain, from, to)*child
	}
	c.Query.Feed = func(child int, _ []Platform, _ *time.Time, limit *int64) int {
		n := int64(20)
		if limit != nil {
			n = min(max(*limit, 1), 200)
		}
		return StoreCallCost + int(n)*child
	}
	c.Query.Posts = func(child int, _ []Platform, first *int64, _ *string) int {
		return StoreCallCost + int(pageCost(first, 20))*child
	}
	c.Query.TopPosts = func(child int, _ PostRank, _, _ time.Time, _ []Platform, first *int64) int {
		return StoreCallCost + int(pageCost(first, 10))*child
	}
	c.Query.PostHistory = func(child int, _ Platform, _ string, from, to time.Time) int {
		return StoreCallCost + Buckets(GrainHour, from, to)*child
	}
	c.Query.Links = func(child int) int { return StoreCallCost + child }
	c.PlatformLinks.Accounts = func(child int) int { return 1 + linkedAccountsEstimate*child }
	c.Query.Summary = func(child int, _ []Platform) int { return 1 + linkedAccountsEstimate*child }
	c.Summary.Accounts = func(child int) int { return 1 + linkedAccountsEstimate*child }
	c.Subscription.Summary = func(child int, _ []Platform) int { return StoreCallCost + linkedAccountsEstimate*child }
	c.Mutation.Refresh = func(child int, _ *string) int { return StoreCallCost }
	c.Mutation.StartLink = func(child int, _ Platform) int { return StoreCallCost }
	c.Mutation.Unlink = func(child int, _ string) int { return StoreCallCost }
	// A password check (argon2id) is the most expensive thing a request
	// can ask for.
	c.Mutation.DeleteAccount = func(child int, _ string) int { return 10 * StoreCallCost }
	return c
}

// Buckets estimates how many buckets of grain [from, to) spans: at least
// 1, at most maxBuckets.
func Buckets(grain Grain, from, to time.Time) int {
	span := to.Sub(from)
	if span <= 0 {
		return 1
	}
	var per time.Duration
	switch grain {
	case GrainHour:
		per = time.Hour
	case GrainDay:
		per = 24 * time.Hour
	case GrainMonth:
		per = 28 * 24 * time.Hour
	default:
		per = 365 * 24 * time.Hour
	}
	// Sub saturates at about 292 years, so n cannot overflow.
	return int(min(span/per+1, maxBuckets))
}

// pageCost is a page's size for the cost: first within 1 to maxPage, def
// when nil.
func pageCost(first *int64, def int64) int64 {
	if first == nil {
		return def
	}
	return min(max(*first, 1), maxPage)
}
