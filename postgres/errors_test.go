package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pulsehq/pulse"
)

func TestErrorCodeAndIs(t *testing.T) {
	for _, tc := range []struct {
		err      error
		code     string
		sentinel error
	}{
		{nil, "", nil},
		{errors.New("boom"), pulse.EINTERNAL, nil},
		{errorf(pulse.ENOTFOUND, "op", "user not found"), pulse.ENOTFOUND, pulse.ErrNotFound},
		{fmt.Errorf("wrapped: %w", errorf(pulse.ECONFLICT, "op", "dup")), pulse.ECONFLICT, pulse.ErrConflict},
		{translate("op", pgx.ErrNoRows), pulse.ENOTFOUND, pulse.ErrNotFound},
		{translate("op", &pgconn.PgError{Code: "23505"}), pulse.ECONFLICT, pulse.ErrConflict},
		{translate("op", &pgconn.PgError{Code: "23503"}), pulse.ENOTFOUND, pulse.ErrNotFound},
		{translate("op", &pgconn.PgError{Code: "23514"}), pulse.EINVALID, pulse.ErrInvalid},
		{translate("op", &pgconn.PgError{Code: "22P02"}), pulse.EINVALID, pulse.ErrInvalid},
		{translate("op", &pgconn.PgError{Code: "57P01"}), pulse.EINTERNAL, pulse.ErrInternal},
	} {
		if got := pulse.ErrorCode(tc.err); got != tc.code {
			t.Errorf("pulse.ErrorCode(%v) = %q, want %q", tc.err, got, tc.code)
		}
		if tc.sentinel != nil && !errors.Is(tc.err, tc.sentinel) {
			t.Errorf("errors.Is(%v, %v) = false", tc.err, tc.sentinel)
		}
	}
	if errors.Is(errorf(pulse.ENOTFOUND, "op", "x"), pulse.ErrConflict) {
		t.Error("NotFound error matches pulse.ErrConflict")
	}
}

func TestTranslateHidesDriverTypes(t *testing.T) {
	err := translate("postgres.Op", fmt.Errorf("query: %w", &pgconn.PgError{Code: "23505", Message: "dup"}))
	if _, ok := errors.AsType[*pgconn.PgError](err); ok {
		t.Fatal("translated error exposes *pgconn.PgError")
	}
	err = translate("postgres.Op", fmt.Errorf("query: %w", context.Canceled))
	if !errors.Is(err, context.Canceled) {
		t.Fatal("translated error lost context.Canceled")
	}
	if e := (&pulse.Error{Code: pulse.EINVALID, Op: "postgres.Op", Err: errors.New("bad")}); e.Error() != "postgres.Op: bad" {
		t.Fatalf("Error() = %q", e.Error())
	}
}

func TestErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errorf(pulse.EINVALID, "op", "password too short"), "password too short"},
		{errorf(pulse.EINTERNAL, "op", "connection reset by 10.0.0.3"), "internal error"},
		{errors.New("anything"), "internal error"},
		{pulse.ErrNotFound, "not found"},
	} {
		if got := pulse.ErrorMessage(tc.err); got != tc.want {
			t.Errorf("pulse.ErrorMessage(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
