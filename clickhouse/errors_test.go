package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pulsehq/pulse"
)

func TestTranslateCodesDriverErrors(t *testing.T) {
	exc := translate(fmt.Errorf("query: %w", &ch.Exception{Code: 60, Message: "Table default.nope doesn't exist"}))
	if pulse.ErrorCode(exc) != pulse.EINTERNAL || exc.Error() != "code 60: Table default.nope doesn't exist" {
		t.Errorf("exception: %q (%s)", exc, pulse.ErrorCode(exc))
	}
	if _, ok := errors.AsType[*ch.Exception](exc); ok {
		t.Error("translated exception exposes *clickhouse.Exception")
	}
	down := translate(fmt.Errorf("dial: %w", io.ErrUnexpectedEOF))
	if pulse.ErrorCode(down) != pulse.EUNAVAILABLE || !errors.Is(down, ErrUnavailable) || !errors.Is(down, pulse.ErrUnavailable) {
		t.Errorf("connection failure: %q (%s)", down, pulse.ErrorCode(down))
	}
	if msg := pulse.ErrorMessage(down); msg != "temporarily unavailable" {
		t.Errorf("connection failure shown to users as %q", msg)
	}
	if c := translate(fmt.Errorf("read: %w", context.Canceled)); !errors.Is(c, context.Canceled) {
		t.Errorf("cancellation lost: %v", c)
	}
	if translate(nil) != nil {
		t.Error("translate(nil) != nil")
	}
}
