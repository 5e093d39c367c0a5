// Package feed runs the change feed's background work: outgoing webhooks, each delivering the
// changes its filter selects at least once, in order, from a cursor kept in the database; and
// the pruning of changes older than the retention.
package feed

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"entgo.io/ent/dialect"

	"catalogd/ent"
	"catalogd/ent/feedcursor"
	"catalogd/internal/reading"
	"catalogd/internal/store"
)

// Headers of a webhook delivery.
const (
	HeaderSignature = "X-Catalogd-Signature-256" // "sha256=" + hex HMAC-SHA256 of timestamp + "." + body
	HeaderTimestamp = "X-Catalogd-Timestamp"     // Unix seconds when the delivery was signed
	HeaderDelivery  = "X-Catalogd-Delivery"      // the same for every attempt of the same events
	HeaderEvent     = "X-Catalogd-Event"         // "catalog.changes"
)

// Defaults of Config.
const (
	DefaultRetention = 30 * 24 * time.Hour
	DefaultPoll      = time.Second
	DefaultBatch     = 100
)

// Webhook is one configured receiver.
type Webhook struct {
	Name   string // names its cursor; unique
	URL    string
	Secret string
	Filter store.ChangeFilter
}

// Config configures Run.
type Config struct {
	Webhooks  []Webhook
	Retention time.Duration // 0: DefaultRetention
	Poll      time.Duration // how often webhooks look for changes (0: DefaultPoll)
	Batch     int           // changes per delivery (0: DefaultBatch)
	// Client posts deliveries: a reading.Reader with the server's allow-list, so a webhook
	// reaches only what reads may (loopback only when an entry names it literally).
	Client *reading.Reader
	Log    *slog.Logger
}

// Sign returns the signature header value of a delivery.
func Sign(secret string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery's signature in constant time, refusing timestamps further than
// maxAge from now. Receivers written in Go may use it.
func Verify(secret string, header http.Header, body []byte, maxAge time.Duration, now time.Time) error {
	ts, err := strconv.ParseInt(header.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return errors.New("no timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > maxAge || d < -maxAge {
		return errors.New("stale timestamp")
	}
	if !hmac.Equal([]byte(header.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return errors.New("bad signature")
	}
	return nil
}

// Event is one change as a delivery carries it.
type Event struct {
	ID            int64           `json:"id"`
	Type          string          `json:"type"`
	Ref           string          `json:"ref"`
	Kind          string          `json:"kind"`
	Owner         string          `json:"owner"`
	PreviousOwner string          `json:"previousOwner,omitempty"`
	Location      string          `json:"location"`
	Revision      string          `json:"revision,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	At            time.Time       `json:"at"`
	Fields        json.RawMessage `json:"fields,omitempty"`
}

// Delivery is a webhook request's body.
type Delivery struct {
	Delivery string  `json:"delivery"`
	Webhook  string  `json:"webhook"`
	Events   []Event `json:"events"`
}

// Start creates the cursors of webhooks seen for the first time (at the feed's head, so call
// it before the catalog changes), then starts the pruner and one deliverer per webhook. The
// returned function waits for them to stop once ctx ends.
func Start(ctx context.Context, st *store.Store, cfg Config) (wait func(), err error) {
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	for _, w := range cfg.Webhooks {
		if _, err := cursor(ctx, st, "webhook:"+w.Name); err != nil {
			return nil, err
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { prune(ctx, st, cfg) })
	for _, w := range cfg.Webhooks {
		wg.Go(func() { deliver(ctx, st, cfg, w) })
	}
	return wg.Wait, nil
}

// prune removes changes older than the retention, now and every hour (every replica may;
// the deletes are idempotent).
func prune(ctx context.Context, st *store.Store, cfg Config) {
	every := min(time.Hour, cfg.Retention/4)
	for {
		n, err := st.PruneChanges(ctx, time.Now().Add(-cfg.Retention))
		if err != nil && ctx.Err() == nil {
			cfg.Log.Warn("pruning the change feed", "err", err)
		} else if n > 0 {
			cfg.Log.Info("pruned the change feed", "removed", n, "retention", cfg.Retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// deliver runs one webhook: while this replica holds its lease, it posts the changes after
// the webhook's cursor a batch at a time and moves the cursor only once the receiver answered
// 2xx (at least once: a crash between the answer and the cursor's update repeats a delivery,
// with the same delivery id).
func deliver(ctx context.Context, st *store.Store, cfg Config, w Webhook) {
	name := "webhook:" + w.Name
	log := cfg.Log.With("webhook", w.Name)
	failures := 0
	var lease *sql.Conn
	defer func() {
		if lease != nil {
			lease.Close()
		}
	}()
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = cfg.Poll
		if lease == nil && st.Dialect == dialect.Postgres {
			var ok bool
			lease, ok = tryLease(ctx, st, name)
			if !ok {
				continue // another replica delivers this webhook
			}
		}
		more, err := deliverOnce(ctx, st, cfg, w, name)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			// Backoff between rounds (each round already retried within itself).
			wait = min(cfg.Poll<<min(failures, 8), 5*time.Minute)
			log.Warn("webhook delivery failed; will retry", "err", err, "failures", failures, "next", wait)
			continue
		}
		failures = 0
		if more {
			wait = 0
		}
	}
}

// tryLease takes the webhook's session advisory lock on a connection of its own, so only one
// replica delivers it; the lock goes with the connection.
func tryLease(ctx context.Context, st *store.Store, name string) (*sql.Conn, bool) {
	conn, err := st.DB.Conn(ctx)
	if err != nil {
		return nil, false
	}
	h := fnv.New64a()
	h.Write([]byte("catalogd feed " + name))
	var ok bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", int64(h.Sum64())).Scan(&ok); err != nil || !ok {
		conn.Close()
		return nil, false
	}
	return conn, true
}

// deliverOnce posts the next batch, if any, and reports whether more wait.
func deliverOnce(ctx context.Context, st *store.Store, cfg Config, w Webhook, name string) (bool, error) {
	cur, err := cursor(ctx, st, name)
	if err != nil {
		return false, err
	}
	head, err := st.LastChangeID(ctx)
	if err != nil {
		return false, err
	}
	cs, more, err := st.Changes(ctx, cur.LastID, cfg.Batch, w.Filter)
	if err != nil {
		return false, err
	}
	if len(cs) == 0 {
		// Nothing up to head matches: skip it, so the next scan starts there.
		if head > cur.LastID {
			return false, advance(ctx, st, name, cur.LastID, head)
		}
		return false, nil
	}
	last := cs[len(cs)-1].ID
	d := Delivery{Delivery: fmt.Sprintf("%s-%d-%d", w.Name, cs[0].ID, last), Webhook: w.Name, Events: make([]Event, len(cs))}
	for i, c := range cs {
		d.Events[i] = Event{ID: c.ID, Type: c.Type, Ref: c.Ref, Kind: c.Kind, Owner: c.Owner, PreviousOwner: c.PreviousOwner,
			Location: c.Location, Revision: c.Revision, Reason: c.Reason, At: c.At, Fields: c.Fields}
	}
	body, err := json.Marshal(d)
	if err != nil {
		return false, err
	}
	ts := time.Now().Unix()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "catalogd-feed")
	h.Set(HeaderSignature, Sign(w.Secret, ts, body))
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderDelivery, d.Delivery)
	h.Set(HeaderEvent, "catalog.changes")
	status, err := cfg.Client.Post(ctx, w.URL, h, body)
	if err != nil {
		return false, err
	}
	if status < 200 || status > 299 {
		return false, fmt.Errorf("receiver answered %d", status)
	}
	// The receiver has the events: record it even when shutting down, or a restart repeats them.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return more, advance(actx, st, name, cur.LastID, last)
}

// cursor returns the webhook's cursor, created at the feed's head the first time: a new
// webhook receives what happens from then on, not the whole retained history.
func cursor(ctx context.Context, st *store.Store, name string) (*ent.FeedCursor, error) {
	c, err := st.Client.FeedCursor.Query().Where(feedcursor.Name(name)).Only(ctx)
	if err == nil || !ent.IsNotFound(err) {
		return c, err
	}
	head, err := st.LastChangeID(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.Client.FeedCursor.Create().SetName(name).SetLastID(head).OnConflictColumns(feedcursor.FieldName).DoNothing().Exec(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("create cursor of %s: %w", name, err)
	}
	return st.Client.FeedCursor.Query().Where(feedcursor.Name(name)).Only(ctx)
}

// advance moves the cursor from what it was when the batch was read (another replica that
// moved it meanwhile wins).
func advance(ctx context.Context, st *store.Store, name string, from, to int64) error {
	_, err := st.Client.FeedCursor.Update().Where(feedcursor.Name(name), feedcursor.LastID(from)).SetLastID(to).Save(ctx)
	return err
}
