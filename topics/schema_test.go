package topics_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/pulsehq/pulse/topics"
)

var update = flag.Bool("update", false, "rewrite docs/schemas from the Go types")

// TestSchemasAreCurrent keeps docs/schemas in step with the Go types: a
// field added without regenerating (go test ./topics -update) fails here.
func TestSchemasAreCurrent(t *testing.T) {
	for _, v := range topics.Values {
		got, err := topics.JSONSchema(v)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("..", "docs", "schemas", v.Name+".json")
		if *update {
			if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./topics -update)", err)
		}
		if string(want) != string(got)+"\n" {
			t.Errorf("%s is out of date; run go test ./topics -update", path)
		}
	}
}
