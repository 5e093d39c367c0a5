// Package catalog is the domain of catalogd: entity refs, descriptors, their validation and the
// rules that derive relations. It imports no database or transport package; storage, ingestion
// and the GraphQL layer all point inward to it.
package catalog

import (
	"errors"
	"fmt"
)

// Error codes. They are mapped to transport codes in exactly one place (graph's error presenter).
const (
	EINVALID         = "invalid" // the caller's input is wrong
	ENOTFOUND        = "not_found"
	ECONFLICT        = "conflict"
	EUNAUTHENTICATED = "unauthenticated"
	EFORBIDDEN       = "forbidden"
	EINTERNAL        = "internal"
)

// Error is a domain error with a code and a message that is safe to show to the caller.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other error
// and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}
