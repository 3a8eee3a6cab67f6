// Package e2e holds end-to-end tests that drive Pulse's whole chain on real
// engines: the kfake broker (the Kafka protocol), PostgreSQL, ClickHouse,
// the platform simulator over HTTP and the GraphQL API.
package e2e
