package chdb

import (
	"os"
	"strings"
	"testing"

	"github.com/pulsehq/pulse/internal/testkit"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

func TestQueryAndError(t *testing.T) {
	lib := os.Getenv("CHDB_LIB_PATH")
	if lib == "" {
		t.Skip("CHDB_LIB_PATH not set")
	}
	c, err := Open(lib, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := Open(lib, t.TempDir()); err == nil {
		t.Fatal("a second session opened")
	}
	if out, err := c.Query("SELECT 40 + 2", "TabSeparated"); err != nil || out != "42\n" {
		t.Fatalf("got %q, %v", out, err)
	}
	if _, err := c.Query("SELECT nope(", "TabSeparated"); err == nil || !strings.Contains(err.Error(), "SYNTAX_ERROR") {
		t.Fatalf("syntax error: %v", err)
	}
}
