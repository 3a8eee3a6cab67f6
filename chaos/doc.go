// Package chaos runs Pulse as separate processes (the real `pulse broker`,
// `sim`, `api`, `scheduler`, `fetcher`, `processor` and `sink` commands)
// against a PostgreSQL and a ClickHouse of its own on free loopback ports,
// under steady fetching, and kills them: kill -9 of a random component at
// a random moment, then a restart, over and over; ClickHouse stopped for a
// while and PostgreSQL restarted mid-run. Afterwards it checks that every
// observation the fetchers published is in ClickHouse exactly once, that
// every rollup equals a recomputation from the hourly rows, and that the
// simulator saw no rate-limit breach. Its files are tests only:
//
//	go test -run TestChaos ./chaos                 # one short run, broker spared (make test)
//	go test -run TestChaos ./chaos -chaos-runs 20 -chaos-kill-broker  # make chaos
package chaos
