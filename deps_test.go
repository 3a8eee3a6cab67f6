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
// components: producers, processors and the API see the stores only
// through interfaces over package pulse's types, and only the assembly
// and the commands wire postgres and clickhouse in.
func TestComponentsDependOnTheDomain(t *testing.T) {
	const mod = "github.com/pulsehq/pulse/"
	forbidden := map[string]bool{mod + "postgres": true, mod + "clickhouse": true}
	lines := goList(t, "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./producers/...", "./processors/...", "./api/...")
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
