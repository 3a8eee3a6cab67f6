package pulse_test

import (
	"os/exec"
	"strings"
	"testing"
)

// goList runs `go list` in the module root with args and returns its
// output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	// The go command on PATH: the one running these tests (GOTOOLCHAIN
	// selects the same toolchain for it).
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestComponentsDependOnTheDomain keeps the database packages out of the
// components: producers, processors, the API and upkeep see the stores
// only through interfaces over package pulse's types, and only the
// assembly and the commands wire postgres and clickhouse in.
func TestComponentsDependOnTheDomain(t *testing.T) {
	const mod = "github.com/pulsehq/pulse/"
	forbidden := map[string]bool{mod + "postgres": true, mod + "clickhouse": true}
	lines := goList(t, "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./producers/...", "./processors/...", "./api/...", "./upkeep/...")
	if len(lines) < 5 {
		t.Fatalf("go list found only %q", lines)
	}
	for _, line := range lines {
		pkg, deps, _ := strings.Cut(line, " ")
		for _, dep := range strings.Fields(deps) {
			if forbidden[dep] || strings.HasPrefix(dep, mod+"postgres/") || strings.HasPrefix(dep, mod+"clickhouse/") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}

// testOnly are packages the pulse binary must not link: the standard
// library's test support and the project's test helpers.
func testOnly(pkg string) bool {
	switch pkg {
	case "testing", "net/http/httptest", "go.uber.org/goleak",
		"github.com/lovoo/goka/tester", "github.com/twmb/franz-go/pkg/kfake/kfaketest":
		return true
	}
	return strings.HasPrefix(pkg, "testing/") ||
		strings.HasSuffix(pkg, "/internal/testkit") ||
		strings.HasSuffix(pkg, "/pgtest") || strings.HasSuffix(pkg, "/chtest") ||
		pkg == "github.com/pulsehq/pulse/platforms/conformance"
}

// upstreamTesting are the dependencies known to import package testing in
// non-test files, which Pulse cannot change: goka v1.1.17's root package
// (mockautoconsumers.go, mockbuilder.go) and goka/storage (test.go), and
// Apache Thrift's Go library (lib/go/thrift/logger.go, v0.24.0), which
// arrow-go's Parquet writer needs for its file metadata (the export). A new
// entry here needs a reason; any other importer fails the test.
var upstreamTesting = map[string]bool{
	"github.com/lovoo/goka":                  true,
	"github.com/lovoo/goka/storage":          true,
	"github.com/apache/thrift/lib/go/thrift": true,
}

// TestBinaryLinksNoTestCode keeps test helpers out of the pulse binary: no
// package in cmd/pulse's dependencies is test-only, and none but the known
// upstream ones imports one.
func TestBinaryLinksNoTestCode(t *testing.T) {
	lines := goList(t, "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./cmd/pulse")
	if len(lines) < 50 {
		t.Fatalf("go list found only %q", lines)
	}
	for _, line := range lines {
		pkg, imports, _ := strings.Cut(line, " ")
		if testOnly(pkg) && pkg != "testing" {
			t.Errorf("cmd/pulse depends on %s", pkg)
		}
		for _, imp := range strings.Fields(imports) {
			if testOnly(imp) && !(imp == "testing" && upstreamTesting[pkg]) {
				t.Errorf("%s (a dependency of cmd/pulse) imports %s", pkg, imp)
			}
		}
	}
}
