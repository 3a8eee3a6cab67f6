package topics

// Record headers Pulse components set on Kafka records. Values are UTF-8.
const (
	// HeaderUrgent marks a record that someone is waiting for: the fetcher
	// sets it (value "1") on the RawPayload of a FetchRequest with Reason
	// ReasonOnDemand (the user pressed refresh) or ReasonInitial (a link's
	// first fetch), and the normalizer copies it onto every AccountSnapshot
	// and Post derived from that payload.
	// The ClickHouse sink flushes its batch as soon as it reads such a
	// record instead of waiting for its batch interval. Consumers must not
	// rely on it for correctness; it only trades batch size for latency.
	HeaderUrgent = "pulse-urgent"
)
