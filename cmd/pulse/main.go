// Command pulse runs Pulse's components: each alone against external
// engines, or all in one process on embedded defaults (pulse dev).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

// commands is filled in init: the commands' flag sets read it for --help.
var commands map[string]command

func init() {
	commands = map[string]command{
		"dev":         {"every component in one process on embedded defaults, with the simulator and demo data", runDev},
		"broker":      {"a standalone embedded Kafka-protocol broker (kfake) with a data dir", runBroker},
		"api":         {"the GraphQL API, OAuth routes and dashboard", runAPI},
		"scheduler":   {"emit fetch requests for due links, within each platform's budget", runScheduler},
		"fetcher":     {"consume fetch requests, call the platform APIs, publish raw payloads", runFetcher},
		"processor":   {"the goka normalizer: raw payloads to account snapshots and posts", runProcessor},
		"sink":        {"batch normalized events into ClickHouse", runSink},
		"sim":         {"the platform simulator: real API paths, OAuth endpoints and rate-limit signals", runSim},
		"migrate":     {"apply PostgreSQL and ClickHouse migrations, then exit", runMigrate},
		"refresher":   {"renew OAuth tokens before they expire, retry analytics purges of deleted users, delete expired rows", runRefresher},
		"rotate-keys": {"re-wrap every user's data key under the current master key, then exit", runRotateKeys},
		"replay":      {"reset a stopped consumer group's offsets (earliest, a time or an offset) and watch it catch up", runReplay},
		"dlq":         {"list or redrive dead letters: pulse dlq list|redrive [flags]", runDLQ},
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, "Usage: pulse <command> [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'pulse <command> --help' for a command's flags. Every flag can also be set\nwith the environment variable shown in its help.\n")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "pulse: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		slog.Error("pulse "+os.Args[1]+" failed", "err", err)
		os.Exit(1)
	}
}

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("PULSE_LOG_LEVEL"))); err != nil {
		return slog.LevelInfo
	}
	return l
}
