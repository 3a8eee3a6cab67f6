// Package pulse is Pulse's domain: the users, sessions, linked accounts
// and analytics rows every component talks about, and the coded errors the
// stores return. It holds types and shared codes only, no I/O: package
// postgres and package clickhouse implement the stores, and each component
// declares the small interface it needs in terms of these types. No
// package under producers/, processors/ or api/ imports a database
// package; only the assembly (package assembly) and the commands wire the
// stores in.
package pulse
