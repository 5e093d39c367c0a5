package reading

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/hashicorp/go-retryablehttp"
)

// Post sends body to raw (an outgoing webhook, say) under the same rules as Fetch: the
// allow-list, the dialer's address checks, redirects only to allowed hosts, and the time
// bound. Network errors and 5xx answers are retried with backoff (Options.Retries times).
// It returns the status of the last answer; its body is read (at most 64 KiB) and dropped.
func (r *Reader) Post(ctx context.Context, raw string, header http.Header, body []byte) (int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return 0, fmt.Errorf("%w: not a URL", ErrNotAllowed)
	}
	if err := r.Check(u); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, raw, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post to %s: %w", excerpt(u.Redacted(), 200), err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// Do sends req, once, if the allow-list admits its URL, through the address-checking dialer
// (for API clients that build their own requests, such as Slack's).
func (r *Reader) Do(req *http.Request) (*http.Response, error) {
	if err := r.Check(req.URL); err != nil {
		return nil, err
	}
	return r.client.HTTPClient.Do(req)
}
