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

//go:generate go test -count=1 -run TestSchemasAreCurrent|TestTopicsDocIsCurrent . -update

// Topic names. Each topic's key, value and the components around it are in
// Specs.
const (
	FetchRequests    = "pulse.fetch-requests.v1"
	RawPayloads      = "pulse.raw-payloads.v1"
	AccountSnapshots = "pulse.account-snapshots.v1"
	Posts            = "pulse.posts.v1"
	FetchOutcomes    = "pulse.fetch-outcomes.v1"
	UserAggregates   = "pulse.user-aggregates.v1"
	DeadLetters      = "pulse.dead-letters.v1"
	UserDeletions    = "pulse.user-deletions.v1"
	LinkDeletions    = "pulse.link-deletions.v1"
	AnalyticsChanges = "pulse.analytics-changes.v1"
)

// Spec describes a topic for its readers. docs/topics.md's table is
// generated from Specs and the goka processors' definitions (go test
// ./topics -update), and a test fails when it is stale.
type Spec struct {
	Name string
	// Key is what the record key holds (all keys are UTF-8 strings).
	Key string
	// Value names the value type, one of Values.
	Value string
	// About says what a value holds, beyond its type. Optional.
	About string
	// Producers and Consumers are the components outside the goka
	// processors that write and read the topic; the processors' own roles
	// come from their goka definitions.
	Producers, Consumers []string
}

// Specs are every topic Pulse owns, in the order of All.
var Specs = []Spec{
	{Name: FetchRequests, Key: "link ID", Value: "FetchRequest",
		Producers: []string{"scheduler"}, Consumers: []string{"fetcher"}},
	{Name: RawPayloads, Key: "link ID", Value: "RawPayload", About: "one fetch: the account response and each posts page, unmodified",
		Producers: []string{"fetcher"}},
	{Name: AccountSnapshots, Key: "link ID", Value: "AccountSnapshot", About: "counters plus the engagement of the posts fetched with it",
		Consumers: []string{"sink", "internal teams"}},
	{Name: Posts, Key: "link ID", Value: "Post",
		Consumers: []string{"sink", "internal teams"}},
	{Name: FetchOutcomes, Key: "link ID", Value: "FetchOutcome", About: "ok / throttled / reauth_needed / ..., calls spent, quota left",
		Producers: []string{"fetcher"}, Consumers: []string{"scheduler (throttle feedback)", "operators"}},
	{Name: UserAggregates, Key: "user ID", Value: "UserAggregate", About: "latest values, 24h/7d/30d deltas, engagement rate per account",
		Consumers: []string{"internal teams"}},
	{Name: UserDeletions, Key: "user ID", Value: "UserDeletion", About: "a deleted user: the processors tombstone every table row of the user and their links",
		Producers: []string{"api (account deletion)", "refresher (purge retries)"}},
	{Name: LinkDeletions, Key: "link ID", Value: "LinkDeletion", About: "a deleted user's link, from the aggregator's row of the user"},
	{Name: AnalyticsChanges, Key: "user ID", Value: "AnalyticsChange", About: "a user's analytics changed in ClickHouse (rows inserted, or their rollups recomputed); kept one hour",
		Producers: []string{"sink"}, Consumers: []string{"api (drops the user's cached answers)"}},
	{Name: DeadLetters, Key: "original key", Value: "DeadLetter", About: "reason, original bytes, source topic/partition/offset",
		Producers: []string{"fetcher", "sink"}, Consumers: []string{"`pulse dlq list/redrive` (redrive re-publishes to the source topic)"}},
}

// All lists every topic Pulse owns, for topic creation and docs.
var All = []string{FetchRequests, RawPayloads, AccountSnapshots, Posts, FetchOutcomes, UserAggregates, UserDeletions, LinkDeletions, AnalyticsChanges, DeadLetters}

// Consumer group names. A group's committed offsets are what `pulse replay`
// resets.
const (
	GroupFetcher    = "pulse-fetcher"
	GroupNormalizer = "pulse-normalizer" // goka group; its table topic is "pulse-normalizer-table"
	GroupAggregator = "pulse-aggregator" // goka group; table "pulse-aggregator-table", loopback "pulse-aggregator-loop"
	GroupSink       = "pulse-sink"
)
