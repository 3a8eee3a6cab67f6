// Package topics is Pulse's single contract between components: every Kafka
// topic name, the key and value type carried on it, the codec that encodes
// the value, and the schema version. Every component imports it; it imports
// nothing of Pulse's own.
//
// Values are JSON objects carrying a "v" field with their schema version.
// Decoders accept any version up to the one they know and ignore unknown
// fields, so a consumer written for an older version keeps working when a
// field is added. A value with a newer major version than the decoder knows
// is rejected with ErrUnknownVersion.
package topics

// Topic names. Keys are given next to each topic; all keys are UTF-8 strings.
const (
	// FetchRequests carries FetchRequest values, keyed by link ID. Producers:
	// the scheduler and the API's refresh mutation. Consumer: the fetcher.
	FetchRequests = "pulse.fetch-requests.v1"
	// RawPayloads carries RawPayload values, keyed by link ID. Producer: the
	// fetcher. Consumer: the normalizer.
	RawPayloads = "pulse.raw-payloads.v1"
	// AccountSnapshots carries AccountSnapshot values, keyed by link ID.
	// Producer: the normalizer. Consumers: the sink, the aggregator and
	// internal teams.
	AccountSnapshots = "pulse.account-snapshots.v1"
	// Posts carries Post values, keyed by link ID. Producer: the normalizer.
	Posts = "pulse.posts.v1"
	// FetchOutcomes carries FetchOutcome values, keyed by link ID. Producer:
	// the fetcher. Consumer: the scheduler (throttle feedback).
	FetchOutcomes = "pulse.fetch-outcomes.v1"
	// UserAggregates carries UserAggregate values, keyed by user ID: the
	// user's latest numbers after every change. Producer: the aggregator.
	// Consumers: internal teams.
	UserAggregates = "pulse.user-aggregates.v1"
	// DeadLetters carries DeadLetter values, keyed by the original key.
	DeadLetters = "pulse.dead-letters.v1"
)

// All lists every topic Pulse owns, for topic creation and docs.
var All = []string{FetchRequests, RawPayloads, AccountSnapshots, Posts, FetchOutcomes, UserAggregates, DeadLetters}

// Consumer group names. A group's committed offsets are what `pulse replay`
// resets.
const (
	GroupFetcher    = "pulse-fetcher"
	GroupNormalizer = "pulse-normalizer" // goka group; its table topic is "pulse-normalizer-table"
	GroupAggregator = "pulse-aggregator" // goka group; table "pulse-aggregator-table", loopback "pulse-aggregator-loop"
	GroupSink       = "pulse-sink"
)
