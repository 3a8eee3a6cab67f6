// Package bench holds Pulse's at-scale benchmarks (its files are tests
// only): the end-to-end replay of a generated history through the real
// topics, normalizer, sink and ClickHouse, and the API under concurrent load
// on a year of seeded history. Each benchmark measures its baseline in the
// same run (a bare clickhouse-go insert, bare ClickHouse queries) and
// reports the figure, the baseline and their ratio; bench/benchtable turns
// `go test -bench` output into the table `make bench` prints and
// docs/bench.md keeps.
package bench
