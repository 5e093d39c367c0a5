package gencache

import (
	"strings"
	"testing"
)

// The cache keeps what its bound allows, dropping the least recently used values first, and
// starts over for a new generation.
func TestBoundedLeastRecentlyUsedPerGeneration(t *testing.T) {
	c := New(8*1000, func(_ int, v string) int { return len(v) })
	for i := range 8 {
		c.Put(1, i, strings.Repeat("x", 1000))
	}
	c.Get(1, 0) // used: the least recently used is now 1
	c.Put(1, 8, strings.Repeat("x", 1000))
	if _, ok := c.Get(1, 1); ok {
		t.Error("the least recently used value was kept")
	}
	for _, k := range []int{0, 8} {
		if _, ok := c.Get(1, k); !ok {
			t.Errorf("value %d was dropped", k)
		}
	}
	if c.Bytes() > 8000 {
		t.Errorf("%d bytes kept, bound 8000", c.Bytes())
	}
	c.Put(1, 9, strings.Repeat("x", 1001)) // larger than an eighth: never kept
	if _, ok := c.Get(1, 9); ok {
		t.Error("a value larger than an eighth of the cache was kept")
	}
	c.Put(1, 0, "short") // replaced: its size counts anew
	if v, _ := c.Get(1, 0); v != "short" || c.Bytes() != 7*1000+5 {
		t.Errorf("replaced value %q, %d bytes", v, c.Bytes())
	}
	if _, ok := c.Get(2, 0); ok {
		t.Error("a value of generation 1 was given for generation 2")
	}
	c.Put(2, 0, "ab")
	if _, ok := c.Get(1, 8); ok || c.Bytes() != 2 {
		t.Errorf("a new generation did not start over: %d bytes", c.Bytes())
	}
	c.Put(1, 5, "old") // computed before generation 2 was seen
	if _, ok := c.Get(1, 5); ok {
		t.Error("a value of an older generation was kept")
	}
	n := 0
	c.Each(func(int, string) { n++ })
	if n != 1 {
		t.Errorf("Each saw %d values, want 1", n)
	}
}
