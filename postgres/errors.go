package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/vault"
)

// errorf returns a *pulse.Error with a formatted cause.
func errorf(code, op, format string, args ...any) *pulse.Error {
	return pulse.Errorf(code, op, format, args...)
}

// PostgreSQL SQLSTATE codes translated by translate.
const (
	sqlUniqueViolation     = "23505"
	sqlForeignKeyViolation = "23503"
	sqlCheckViolation      = "23514"
	sqlNotNullViolation    = "23502"
	sqlDataExceptionPrefix = "22"
)

// translate converts err, returned while performing op, into a *pulse.Error.
// *pulse.Errors pass through (gaining op if they lack one); pgx.ErrNoRows
// becomes ENOTFOUND; constraint violations become ECONFLICT, ENOTFOUND or
// EINVALID; and
// context errors are kept as the cause. Other driver errors are flattened to
// their text so that no pgx type leaks to callers.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := errors.AsType[*pulse.Error](err); ok {
		if e.Op == "" {
			return &pulse.Error{Code: e.Code, Op: op, Err: e.Err}
		}
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &pulse.Error{Code: pulse.ENOTFOUND, Op: op, Err: errors.New("not found")}
	}
	// Context and vault errors keep their identity for errors.Is (a wrong
	// or missing master key is worth telling apart from a database fault).
	for _, kept := range []error{context.Canceled, context.DeadlineExceeded, vault.ErrUnknownKey, vault.ErrDecrypt} {
		if errors.Is(err, kept) {
			return &pulse.Error{Code: pulse.EINTERNAL, Op: op, Err: flatError{err.Error(), kept}}
		}
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		code := pulse.EINTERNAL
		switch {
		case pgErr.Code == sqlUniqueViolation:
			code = pulse.ECONFLICT
		case pgErr.Code == sqlForeignKeyViolation:
			code = pulse.ENOTFOUND
		case pgErr.Code == sqlCheckViolation, pgErr.Code == sqlNotNullViolation,
			len(pgErr.Code) == 5 && pgErr.Code[:2] == sqlDataExceptionPrefix:
			code = pulse.EINVALID
		}
		return &pulse.Error{Code: code, Op: op, Err: errors.New(err.Error())}
	}
	return &pulse.Error{Code: pulse.EINTERNAL, Op: op, Err: errors.New(err.Error())}
}

// flatError carries a driver error's text and, optionally, a standard cause
// (a context error) that callers may test for with errors.Is.
type flatError struct {
	msg   string
	cause error
}

func (e flatError) Error() string { return e.msg }
func (e flatError) Unwrap() error { return e.cause }
