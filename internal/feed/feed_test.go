package feed_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"catalogd/internal/feed"
)

func TestVerifyAcceptsOnlyTheSignatureOfTheBodyAndRecentTimestamps(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"events":[]}`)
	signed := func(secret string, ts int64, b []byte) http.Header {
		h := http.Header{}
		h.Set(feed.HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(feed.HeaderSignature, feed.Sign(secret, ts, b))
		return h
	}
	for _, tc := range []struct {
		name string
		h    http.Header
		ok   bool
	}{
		{"a delivery signed now is accepted", signed("s3cret", now.Unix(), body), true},
		{"another secret is refused", signed("other", now.Unix(), body), false},
		{"another body is refused", signed("s3cret", now.Unix(), []byte(`{"events":[1]}`)), false},
		{"a timestamp older than the window is refused", signed("s3cret", now.Add(-6*time.Minute).Unix(), body), false},
		{"a missing signature is refused", http.Header{feed.HeaderTimestamp: {strconv.FormatInt(now.Unix(), 10)}}, false},
		{"a missing timestamp is refused", http.Header{feed.HeaderSignature: {feed.Sign("s3cret", 0, body)}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := feed.Verify("s3cret", tc.h, body, 5*time.Minute, now)
			if (err == nil) != tc.ok {
				t.Fatalf("Verify = %v", err)
			}
		})
	}
}
