package pulse

import (
	"errors"
	"fmt"
)

// Error codes. They are stable strings, also sent to HTTP clients in error
// bodies; the API maps them to HTTP statuses and GraphQL error codes.
const (
	ENOTFOUND     = "not_found"    // the entity does not exist or is not the caller's
	ECONFLICT     = "conflict"     // a uniqueness rule was violated (e.g. duplicate email)
	EINVALID      = "invalid"      // the input failed validation
	EUNAUTHORIZED = "unauthorized" // credentials or session are wrong, missing or expired
	ETHROTTLED    = "throttled"    // too many attempts; try again later
	EUNAVAILABLE  = "unavailable"  // a store could not be reached; retrying later may succeed
	EINTERNAL     = "internal"     // anything else; details are for logs, not users
)

// Error is the coded error the stores return. Code is one of the constants
// above, Op names the operation (e.g. "postgres.CreateUser"), and Err is
// the cause. Stores translate driver errors into an Error whose chain holds
// no driver type; context cancellation is kept, so errors.Is(err,
// context.Canceled) works.
type Error struct {
	Code string
	Op   string
	Err  error
}

// Sentinels for errors.Is: an *Error matches a sentinel when the codes are
// equal, e.g. errors.Is(err, pulse.ErrNotFound).
var (
	ErrNotFound     = &Error{Code: ENOTFOUND}
	ErrConflict     = &Error{Code: ECONFLICT}
	ErrInvalid      = &Error{Code: EINVALID}
	ErrUnauthorized = &Error{Code: EUNAUTHORIZED}
	ErrThrottled    = &Error{Code: ETHROTTLED}
	ErrUnavailable  = &Error{Code: EUNAVAILABLE}
	ErrInternal     = &Error{Code: EINTERNAL}
)

// Errorf returns an *Error with code, operation op and a formatted cause.
func Errorf(code, op, format string, args ...any) *Error {
	return &Error{Code: code, Op: op, Err: fmt.Errorf(format, args...)}
}

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
// nil error, and EINTERNAL for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok && e.Code != "" {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns a message safe to show an end user: the cause's text
// for errors of any code but EINTERNAL and EUNAVAILABLE, a generic text for
// those (whose details belong in logs), and "" for nil.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	code := ErrorCode(err)
	if e, ok := errors.AsType[*Error](err); ok && code != EINTERNAL && code != EUNAVAILABLE && e.Err != nil {
		return e.Err.Error()
	}
	switch code {
	case ENOTFOUND:
		return "not found"
	case ECONFLICT:
		return "conflict"
	case EINVALID:
		return "invalid input"
	case EUNAUTHORIZED:
		return "unauthorized"
	case ETHROTTLED:
		return "too many attempts"
	case EUNAVAILABLE:
		return "temporarily unavailable"
	default:
		return "internal error"
	}
}
