package web_test

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// TestJavaScriptUnits runs the dashboard's JavaScript unit tests
// (web/test/*.test.js, node's built-in runner) so that `go test ./...` and
// `make test` include them. It skips when node is not installed.
func TestJavaScriptUnits(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: the dashboard's JavaScript unit tests do not run (apt-get install nodejs)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "test/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test test/: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
