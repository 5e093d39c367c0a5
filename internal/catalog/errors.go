// Package catalog is the domain of catalogd: entity refs, descriptors, their validation and the
// rules that derive relations. It imports no database or transport package; storage, ingestion
// and the GraphQL layer all point inward to it.
package catalog

import (
	"errors"
	"fmt"
	"unicode/utf8"
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

// MaxExcerpt is how much of a rejected input an error message quotes.
const MaxExcerpt = 200

// Excerpt returns s cut to at most n bytes on a rune boundary, with "…" when cut: what an error
// message may quote of an input, never the whole of it.
func Excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
