package vpndiag

import (
	"errors"
	"fmt"
)

// Error codes. They classify an error for the caller (HTTP status, exit code,
// whether to retry) without exposing internal detail.
const (
	ECONFLICT    = "conflict"    // the action conflicts with the current state (stale step, duplicate)
	EINTERNAL    = "internal"    // a bug or an infrastructure failure; detail only in logs
	EINVALID     = "invalid"     // the input is not acceptable
	ENOTFOUND    = "not_found"   // the thing asked for does not exist
	EFORBIDDEN   = "forbidden"   // the actor may not do this, or a policy refuses it
	ETOOLARGE    = "too_large"   // the input is over a configured limit
	EUNAVAILABLE = "unavailable" // a dependency (relay, Slack, disk) cannot be reached now
)

// Error is an application error whose Message is safe to show to a user, in a
// terminal or posted in Slack. Wrap lower-level errors with fmt.Errorf("...: %w")
// for logs; return an *Error when the user must be told something specific.
type Error struct {
	// Code is one of the E* constants.
	Code string
	// Message is a user-facing sentence with no internal detail.
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("vpndiag error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted, user-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of the first *Error in err's
// chain, or a generic sentence for any other error, so that internal detail
// (paths, SQL, stack) never reaches a user.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
