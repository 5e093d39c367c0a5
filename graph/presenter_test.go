package graph

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"catalogd/internal/catalog"
)

func TestTheErrorPresenterMapsDomainCodesAndHidesInternalMessages(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name      string
		err       error
		code, msg string
	}{
		{"a caller's mistake keeps its message", catalog.Errorf(catalog.EINVALID, "first must be between 0 and 500"), "BAD_USER_INPUT", "first must be between 0 and 500"},
		{"a missing entity is NOT_FOUND", catalog.Errorf(catalog.ENOTFOUND, "no entity x"), "NOT_FOUND", "no entity x"},
		{"a database error that says invalid is still internal", errors.New(`pq: invalid input syntax for type json`), "INTERNAL", "internal error"},
		{"an error about the first row is still internal", errors.New("scan first row: driver: bad connection"), "INTERNAL", "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := presentError(context.Background(), tc.err, log)
			if got.Extensions["code"] != tc.code || got.Message != tc.msg {
				t.Errorf("code %v, message %q; want %s, %q", got.Extensions["code"], got.Message, tc.code, tc.msg)
			}
		})
	}
}
