package scheduler_test

import (
	"testing"

	"github.com/pulsehq/pulse/internal/testkit"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }
