package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pulsehq/pulse/vault"
)

// Error codes. They are stable strings; the API layer maps them to its own
// error classes (e.g. GraphQL extensions.code).
const (
	NotFound     = "not_found"    // the entity does not exist or is not the caller's
	Conflict     = "conflict"     // a uniqueness rule was violated (e.g. duplicate email)
	Invalid      = "invalid"      // the input failed validation
	Unauthorized = "unauthorized" // credentials or session are wrong, missing or expired
	Internal     = "internal"     // anything else; details are for logs, not users
)

// Error is the error type returned by this package's exported functions.
// Code is one of the constants above, Op names the operation (e.g.
// "postgres.CreateUser"), and Err is the cause. Driver (pgx) errors never
// appear in the chain: they are translated into codes and opaque messages.
// Context cancellation is preserved, so errors.Is(err, context.Canceled)
// works.
type Error struct {
	Code string
	Op   string
	Err  error
}

// Sentinels for errors.Is: an *Error matches a sentinel when the codes are
// equal, e.g. errors.Is(err, ErrNotFound).
var (
	ErrNotFound     = &Error{Code: NotFound}
	ErrConflict     = &Error{Code: Conflict}
	ErrInvalid      = &Error{Code: Invalid}
	ErrUnauthorized = &Error{Code: Unauthorized}
	ErrInternal     = &Error{Code: Internal}
)

func (e *Error) Error() string {
	msg := e.Code
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Op != "" {
		return e.Op + ": " + msg
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrNotFound) holds for every not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ErrorCode returns the code of the first *Error in err's chain, "" for a
// nil error, and Internal for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok && e.Code != "" {
		return e.Code
	}
	return Internal
}

// ErrorMessage returns a message safe to show an end user: the cause's text
// for NotFound, Conflict, Invalid and Unauthorized errors, a generic text for
// Internal ones (whose details belong in logs), and "" for nil.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	code := ErrorCode(err)
	if e, ok := errors.AsType[*Error](err); ok && code != Internal && e.Err != nil {
		return e.Err.Error()
	}
	switch code {
	case NotFound:
		return "not found"
	case Conflict:
		return "conflict"
	case Invalid:
		return "invalid input"
	case Unauthorized:
		return "unauthorized"
	default:
		return "internal error"
	}
}

// errorf returns an *Error with a formatted cause.
func errorf(code, op, format string, args ...any) *Error {
	return &Error{Code: code, Op: op, Err: fmt.Errorf(format, args...)}
}

// PostgreSQL SQLSTATE codes translated by translate.
const (
	sqlUniqueViolation     = "23505"
	sqlForeignKeyViolation = "23503"
	sqlCheckViolation      = "23514"
	sqlNotNullViolation    = "23502"
	sqlDataExceptionPrefix = "22"
)

// translate converts err, returned while performing op, into an *Error.
// *Errors pass through (gaining op if they lack one); pgx.ErrNoRows becomes
// NotFound; constraint violations become Conflict, NotFound or Invalid; and
// context errors are kept as the cause. Other driver errors are flattened to
// their text so that no pgx type leaks to callers.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := errors.AsType[*Error](err); ok {
		if e.Op == "" {
			return &Error{Code: e.Code, Op: op, Err: e.Err}
		}
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &Error{Code: NotFound, Op: op, Err: errors.New("not found")}
	}
	// Context and vault errors keep their identity for errors.Is (a wrong
	// or missing master key is worth telling apart from a database fault).
	for _, kept := range []error{context.Canceled, context.DeadlineExceeded, vault.ErrUnknownKey, vault.ErrDecrypt} {
		if errors.Is(err, kept) {
			return &Error{Code: Internal, Op: op, Err: flatError{err.Error(), kept}}
		}
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		code := Internal
		switch {
		case pgErr.Code == sqlUniqueViolation:
			code = Conflict
		case pgErr.Code == sqlForeignKeyViolation:
			code = NotFound
		case pgErr.Code == sqlCheckViolation, pgErr.Code == sqlNotNullViolation,
			len(pgErr.Code) == 5 && pgErr.Code[:2] == sqlDataExceptionPrefix:
			code = Invalid
		}
		return &Error{Code: code, Op: op, Err: errors.New(err.Error())}
	}
	return &Error{Code: Internal, Op: op, Err: errors.New(err.Error())}
}

// flatError carries a driver error's text and, optionally, a standard cause
// (a context error) that callers may test for with errors.Is.
type flatError struct {
	msg   string
	cause error
}

func (e flatError) Error() string { return e.msg }
func (e flatError) Unwrap() error { return e.cause }
