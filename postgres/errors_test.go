package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestErrorCodeAndIs(t *testing.T) {
	for _, tc := range []struct {
		err      error
		code     string
		sentinel error
	}{
		{nil, "", nil},
		{errors.New("boom"), Internal, nil},
		{errorf(NotFound, "op", "user not found"), NotFound, ErrNotFound},
		{fmt.Errorf("wrapped: %w", errorf(Conflict, "op", "dup")), Conflict, ErrConflict},
		{translate("op", pgx.ErrNoRows), NotFound, ErrNotFound},
		{translate("op", &pgconn.PgError{Code: "23505"}), Conflict, ErrConflict},
		{translate("op", &pgconn.PgError{Code: "23503"}), NotFound, ErrNotFound},
		{translate("op", &pgconn.PgError{Code: "23514"}), Invalid, ErrInvalid},
		{translate("op", &pgconn.PgError{Code: "22P02"}), Invalid, ErrInvalid},
		{translate("op", &pgconn.PgError{Code: "57P01"}), Internal, ErrInternal},
	} {
		if got := ErrorCode(tc.err); got != tc.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.code)
		}
		if tc.sentinel != nil && !errors.Is(tc.err, tc.sentinel) {
			t.Errorf("errors.Is(%v, %v) = false", tc.err, tc.sentinel)
		}
	}
	if errors.Is(errorf(NotFound, "op", "x"), ErrConflict) {
		t.Error("NotFound error matches ErrConflict")
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
	if e := (&Error{Code: Invalid, Op: "postgres.Op", Err: errors.New("bad")}); e.Error() != "postgres.Op: bad" {
		t.Fatalf("Error() = %q", e.Error())
	}
}

func TestErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errorf(Invalid, "op", "password too short"), "password too short"},
		{errorf(Internal, "op", "connection reset by 10.0.0.3"), "internal error"},
		{errors.New("anything"), "internal error"},
		{ErrNotFound, "not found"},
	} {
		if got := ErrorMessage(tc.err); got != tc.want {
			t.Errorf("ErrorMessage(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
