package topics

// Record headers Pulse components set on Kafka records. Values are UTF-8.
const (
	// HeaderUrgent marks a record that someone is waiting for: producers
	// set it (value "1") on every AccountSnapshot and Post derived from a
	// FetchRequest with Reason ReasonOnDemand (the user pressed refresh).
	// The ClickHouse sink flushes its batch as soon as it reads such a
	// record instead of waiting for its batch interval. Consumers must not
	// rely on it for correctness; it only trades batch size for latency.
	HeaderUrgent = "pulse-urgent"
)
