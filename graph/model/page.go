package model

import (
	"encoding/base64"
	"strings"

	"catalogd/internal/catalog"
)

// Page sizes of the lists that grow with the catalog. Every first argument is checked against
// its maximum here, and the complexity function counts a list by the same effective page.
const (
	// DefaultAffectedPage keeps affected without arguments answering as it did before it was
	// paged, for catalogs where one question reaches up to this many entities.
	DefaultAffectedPage = 10_000
	MaxAffectedPage     = 10_000
	// DefaultListPage and MaxListPage are the page of every other paged list.
	DefaultListPage = 100
	MaxListPage     = 500
)

// PageSize is the effective page of a first argument: def when absent, at most max (the
// complexity function uses it so an oversized first is answered by the resolver's check).
func PageSize(first *int, def, limit int) int {
	if first == nil {
		return def
	}
	return min(max(*first, 1), limit)
}

// CheckFirst validates a first argument: absent means def, above limit is an error.
func CheckFirst(first *int, def, limit int) (int, error) {
	if first == nil {
		return def, nil
	}
	if *first < 0 || *first > limit {
		return 0, catalog.Errorf(catalog.EINVALID, "first must be between 0 and %d, got %d", limit, *first)
	}
	return *first, nil
}

const cursorPrefix = "ref:"

// Cursor is the opaque cursor of an item of a paged list whose items are keyed by ref.
func Cursor(ref string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + ref))
}

func decodeCursor(c string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return "", false
	}
	return strings.TrimPrefix(string(b), cursorPrefix), true
}

// page returns the page of items after the item whose key is after. opaque says after is a
// Cursor rather than the key itself.
func page[T any](items []T, key func(T) string, first *int, after *string, def, limit int, opaque bool) ([]T, error) {
	n, err := CheckFirst(first, def, limit)
	if err != nil {
		return nil, err
	}
	start := 0
	if after != nil {
		k, ok := *after, true
		if opaque {
			k, ok = decodeCursor(*after)
		}
		if !ok {
			return nil, catalog.Errorf(catalog.EINVALID, "after: %q is not a cursor of this list", catalog.Excerpt(*after, 60))
		}
		i := indexOf(items, key, k)
		if i < 0 {
			return nil, catalog.Errorf(catalog.EINVALID, "after: %q names no item of this list (has the catalog changed?)", catalog.Excerpt(k, 60))
		}
		start = i + 1
	}
	end := min(start+n, len(items))
	return items[start:end:end], nil
}

func indexOf[T any](items []T, key func(T) string, k string) int {
	for i, it := range items {
		if key(it) == k {
			return i
		}
	}
	return -1
}

func identity(s string) string { return s }
