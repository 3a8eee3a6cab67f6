package httpx

import (
	"net/url"
	"strings"
)

// minSecretLen is the shortest secret Redact and RedactRaw replace:
// shorter strings would mangle ordinary words, and no platform credential
// is that short.
const minSecretLen = 8

// Redact returns err with every occurrence of the given secrets (tokens,
// codes, app secrets), raw or URL-encoded, removed from its message.
// Secrets shorter than minSecretLen are ignored; err is returned as is
// when it is nil or no secret is left. The original error stays reachable
// through Unwrap.
func Redact(err error, secrets ...string) error {
	return redact(err, true, secrets)
}

// RedactRaw is Redact for the raw secrets only: their URL-encoded forms
// are left in the message.
func RedactRaw(err error, secrets ...string) error {
	return redact(err, false, secrets)
}

func redact(err error, encoded bool, secrets []string) error {
	var keep []string
	for _, s := range secrets {
		if len(s) >= minSecretLen {
			keep = append(keep, s)
			if q := url.QueryEscape(s); encoded && q != s {
				keep = append(keep, q)
			}
		}
	}
	if err == nil || len(keep) == 0 {
		return err
	}
	return &redactedError{err: err, secrets: keep}
}

// redactedError prints err's message with secrets replaced by
// "[REDACTED]"; it unwraps to err.
type redactedError struct {
	err     error
	secrets []string
}

func (e *redactedError) Error() string {
	msg := e.err.Error()
	for _, s := range e.secrets {
		msg = strings.ReplaceAll(msg, s, "[REDACTED]")
	}
	return msg
}

func (e *redactedError) Unwrap() error { return e.err }

// TokenEndpointError returns a token-endpoint failure with a message of its
// own, "token endpoint: " + msg, wrapping err: the wrapped
// *oauth2.RetrieveError (whose message includes the raw body) stays
// reachable with errors.As without being printed.
func TokenEndpointError(msg string, err error) error {
	return &tokenEndpointError{msg: msg, err: err}
}

type tokenEndpointError struct {
	msg string
	err error
}

func (e *tokenEndpointError) Error() string { return "token endpoint: " + e.msg }
func (e *tokenEndpointError) Unwrap() error { return e.err }
