package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/pulsehq/pulse/internal/testkit"
)

func TestMain(m *testing.M) {
	testkit.WrapTestMain(m)
}

// commandPaths walks the command tree: every command and subcommand, as
// its words on the command line.
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	parser, err := newParser(&cli{}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var paths [][]string
	var walk func(n *kong.Node, prefix []string)
	walk = func(n *kong.Node, prefix []string) {
		for _, c := range n.Children {
			if c.Type != kong.CommandNode {
				continue
			}
			p := append(append([]string{}, prefix...), c.Name)
			paths = append(paths, p)
			walk(c, p)
		}
	}
	walk(parser.Model.Node, nil)
	return paths
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestHelpOnEveryCommand: --help exits 0 and shows the command's usage on
// every command and subcommand, and on the binary itself.
func TestHelpOnEveryCommand(t *testing.T) {
	paths := append(commandPaths(t), []string{})
	if len(paths) < 15 {
		t.Fatalf("only %d commands in the tree: %v", len(paths), paths)
	}
	for _, path := range paths {
		for _, help := range []string{"--help", "-h"} {
			t.Run(strings.Join(append(path, help), " "), func(t *testing.T) {
				code, out, errOut := runCLI(t, append(path, help)...)
				want := "Usage: " + strings.Join(append([]string{"pulse"}, path...), " ")
				if code != 0 || !strings.Contains(out, want) {
					t.Fatalf("exit %d, want 0 with %q in stdout\nstdout: %s\nstderr: %s", code, want, out, errOut)
				}
			})
		}
	}
}

// TestEveryFlagHasAnEnvironmentVariable: each flag of each command can be
// set from a PULSE_* variable, as --help says.
func TestEveryFlagHasAnEnvironmentVariable(t *testing.T) {
	parser, err := newParser(&cli{}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	flags := 0
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			if f.Name == "help" {
				continue
			}
			flags++
			if len(f.Envs) != 1 || !strings.HasPrefix(f.Envs[0], "PULSE_") {
				t.Errorf("pulse %s --%s: environment variables %v, want one PULSE_*", n.Path(), f.Name, f.Envs)
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(parser.Model.Node)
	if flags < 40 {
		t.Fatalf("only %d flags seen: the walk is broken", flags)
	}
}

// TestBadValuesFailAtStartNamingTheFlag: a bad flag value, a bad
// environment value and an unknown flag each stop the command before it
// does anything (exit 2, usage error), naming the flag.
func TestBadValuesFailAtStartNamingTheFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad duration flag", []string{"scheduler", "--interval=soon"}, nil, "--interval"},
		{"bad duration env", []string{"scheduler"}, map[string]string{"PULSE_REFRESH_INTERVAL": "soon"}, "--interval"},
		{"bad int flag", []string{"api", "--replication=three"}, nil, "--replication"},
		{"bad int env", []string{"fetcher"}, map[string]string{"PULSE_KAFKA_REPLICATION": "three"}, "--replication"},
		{"negative replication", []string{"sink", "--replication=-1"}, nil, "--replication"},
		{"bad refresher env", []string{"refresher"}, map[string]string{"PULSE_REFRESH_BEFORE": "10"}, "--refresh-before"},
		{"refresh-before within interval", []string{"refresher", "--interval=1h", "--refresh-before=10m"}, nil, "--refresh-before"},
		{"bad log level env", []string{"migrate"}, map[string]string{"PULSE_LOG_LEVEL": "loud"}, "--log-level"},
		{"unknown processor", []string{"processor", "--run=normalizer,joiner"}, nil, "--run"},
		{"unknown processor env", []string{"processor"}, map[string]string{"PULSE_PROCESSORS": "joiner"}, "--run"},
		{"bad broker address", []string{"broker", "--listen=0.0.0.0:9092"}, nil, "--listen"},
		{"bad broker port env", []string{"dev"}, map[string]string{"PULSE_BROKER_PORT": "ninety"}, "--broker-port"},
		{"bad dlq since", []string{"dlq", "list", "--since=yesterday"}, nil, "--since"},
		{"bad replay target", []string{"replay", "--group=g", "--to=tomorrow"}, nil, "--to"},
		{"missing replay group", []string{"replay"}, nil, "--group"},
		{"bad bool env", []string{"dlq", "redrive"}, map[string]string{"PULSE_DLQ_DRY_RUN": "maybe"}, "--dry-run"},
		{"bad trusted proxy", []string{"api", "--trusted-proxies=10.0.0.0/8,proxy.local"}, nil, "--trusted-proxies"},
		{"bad trusted proxy env", []string{"api"}, map[string]string{"PULSE_TRUSTED_PROXIES": "10.0.0.0/33"}, "--trusted-proxies"},
		{"bad smtp url", []string{"api", "--smtp-url=http://relay.example"}, nil, "--smtp-url"},
		{"bad smtp url env, password kept out", []string{"api"}, map[string]string{"PULSE_SMTP_URL": "smtp://u:hunter2@relay example"}, "--smtp-url"},
		{"smtp and mail dir", []string{"api", "--smtp-url=smtps://relay.example", "--mail-dir=/tmp/m"}, nil, "--smtp-url and --mail-dir"},
		{"bad mail sender", []string{"api", "--smtp-url=smtps://relay.example", "--mail-from=nobody"}, nil, "--smtp-url"},
		{"negative answer cache", []string{"api", "--answer-cache-mib=-1"}, nil, "--answer-cache-mib"},
		{"zero answer cache ttl env", []string{"dev"}, map[string]string{"PULSE_ANSWER_CACHE_TTL": "0s"}, "--answer-cache-ttl"},
		{"unknown flag", []string{"sink", "--clickhouse"}, nil, "--clickhouse"},
		{"unknown command", []string{"schedule"}, nil, "schedule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runCLI(t, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut+out, "hunter2") {
				t.Fatalf("exit %d, want 2 with %q in stderr\nstdout: %s\nstderr: %s", code, tc.want, out, errOut)
			}
		})
	}
}

// TestComposeCommandsParse: every command line in compose/docker-compose.yml
// is one this binary accepts.
func TestComposeCommandsParse(t *testing.T) {
	b, err := os.ReadFile("../../compose/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*command:\s*(\[.*\])\s*$`)
	ms := re.FindAllSubmatch(b, -1)
	if len(ms) < 5 {
		t.Fatalf("found %d commands in the compose file", len(ms))
	}
	for _, m := range ms {
		var args []string
		if err := json.Unmarshal(m[1], &args); err != nil {
			t.Fatalf("%s: %v", m[1], err)
		}
		parser, err := newParser(&cli{}, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parser.Parse(args); err != nil {
			t.Errorf("compose command %q: %v", args, err)
		}
	}
}
