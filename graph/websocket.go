package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"catalogd/internal/auth"
	"catalogd/internal/catalog"
)

// WebsocketOptions configure GraphQL over websocket (the graphql-transport-ws protocol of the
// graphql-ws library) on the same path as HTTP.
type WebsocketOptions struct {
	// Authenticate checks the credentials a connection sent in its connection_init (what an
	// Authorization header would hold, "Bearer <token>", or "" when none were sent) and
	// returns the context the connection's operations run in, carrying the principal. A
	// *catalog.Error with EUNAUTHENTICATED closes the connection with 4401, EFORBIDDEN with
	// 4403, any other error with 4500. Nil refuses every connection (4401).
	Authenticate func(ctx context.Context, authorization string) (context.Context, error)
	// Origins are the browser origins, besides the server's own, allowed to connect
	// ("https://ui.example.com"; the HTTP layer checks them first, exactly).
	Origins []string
	// InitTimeout closes (4408) a connection that has not sent connection_init by then
	// (0: DefaultWebsocketInitTimeout).
	InitTimeout time.Duration
	// PingInterval is how often the server pings; a client that has not answered two
	// intervals later is disconnected (0: DefaultWebsocketPingInterval).
	PingInterval time.Duration
	// ReadLimit caps a message from the client in bytes (0: DefaultWebsocketReadLimit).
	ReadLimit int64
	// MaxOperations caps the operations one connection runs at a time; more are answered
	// with TOO_MANY_OPERATIONS (0: DefaultWebsocketMaxOperations).
	MaxOperations int
}

// Defaults of WebsocketOptions.
const (
	DefaultWebsocketInitTimeout   = 10 * time.Second
	DefaultWebsocketPingInterval  = 30 * time.Second
	DefaultWebsocketReadLimit     = 1 << 20 // as a POST body
	DefaultWebsocketMaxOperations = 16
)

// CodeTooManyOperations answers an operation beyond a connection's MaxOperations.
const CodeTooManyOperations = "TOO_MANY_OPERATIONS"

// Close codes of graphql-transport-ws.
const (
	closeBadRequest   = 4400
	closeUnauthorized = 4401
	closeForbidden    = 4403
	closeInitTimeout  = 4408
	closeInternal     = 4500
)

// websocketTransport is the handler's one websocket transport. gqlgen also speaks the legacy
// graphql-ws (subscriptions-transport-ws) protocol; the HTTP layer refuses handshakes that do
// not offer graphql-transport-ws, whose clients answer pings, so dead peers are found.
func websocketTransport(o WebsocketOptions, log *slog.Logger) transport.Websocket {
	if o.InitTimeout <= 0 {
		o.InitTimeout = DefaultWebsocketInitTimeout
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultWebsocketPingInterval
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = DefaultWebsocketReadLimit
	}
	if o.MaxOperations <= 0 {
		o.MaxOperations = DefaultWebsocketMaxOperations
	}
	conns := &sync.Map{}
	return transport.Websocket{
		Implementation: initGate{
			impl: transport.CoderWebsocketImplementation{AcceptOptions: websocket.AcceptOptions{
				Subprotocols:   []string{"graphql-transport-ws"},
				OriginPatterns: o.Origins,
			}},
			timeout: o.InitTimeout,
			conns:   conns,
		},
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			return o.init(ctx, p, conns)
		},
		PingPongInterval: o.PingInterval,
		PayloadReadLimit: &o.ReadLimit,
		ErrorFunc: func(ctx context.Context, err error) {
			log.DebugContext(ctx, "websocket", "err", err)
		},
	}
}

// init authenticates a connection from its connection_init payload, gives it its operation
// slots and, when its credentials expire, closes it then (4401). conns finds the connection
// by its request's context, which gqlgen passes to init.
func (o WebsocketOptions) init(ctx context.Context, payload transport.InitPayload, conns *sync.Map) (context.Context, *transport.InitPayload, error) {
	authz, err := initCredentials(payload)
	if err == nil && o.Authenticate == nil {
		err = catalog.Errorf(catalog.EUNAUTHENTICATED, "websocket connections are not enabled")
	}
	if err == nil {
		var actx context.Context
		if actx, err = o.Authenticate(ctx, authz); err == nil {
			if p := auth.FromContext(actx); p != nil && !p.Expires.IsZero() {
				if c, ok := conns.Load(ctx); ok {
					c.(*gatedConn).expireAt(p.Expires)
				}
			}
			return context.WithValue(actx, slotsKey{}, make(chan struct{}, o.MaxOperations)), nil, nil
		}
	}
	code, reason := closeInternal, "Internal Server Error"
	switch catalog.ErrorCode(err) {
	case catalog.EUNAUTHENTICATED:
		code, reason = closeUnauthorized, "Unauthorized: "+err.Error()
	case catalog.EFORBIDDEN:
		code, reason = closeForbidden, "Forbidden: "+err.Error()
	}
	if len(reason) > 123 { // the most a close frame holds
		reason = reason[:123]
	}
	return transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, code), reason), nil, err
}

// initCredentials finds the credentials in a connection_init payload, in the forms clients
// send: {"Authorization": "Bearer <token>"} or {"authorization": ...} (graphql-ws's
// connectionParams, Apollo), or {"token": "<token>"}. It returns "" when there are none.
func initCredentials(p transport.InitPayload) (string, error) {
	for _, k := range []string{"Authorization", "authorization", "token"} {
		v, ok := p[k]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return "", catalog.Errorf(catalog.EUNAUTHENTICATED, "connection_init payload: %s must be a string", k)
		}
		if k == "token" {
			return "Bearer " + s, nil
		}
		return s, nil
	}
	return "", nil
}

type slotsKey struct{}

// limitOperations runs an operation of a websocket connection only while the connection has
// a free slot; its slot is freed when its last response is out, or its context ends.
// Requests over HTTP have no slots and pass.
func limitOperations(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	slots, _ := ctx.Value(slotsKey{}).(chan struct{})
	if slots == nil {
		return next(ctx)
	}
	select {
	case slots <- struct{}{}:
	default:
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
			Message:    fmt.Sprintf("too many operations on this connection: at most %d at a time", cap(slots)),
			Extensions: map[string]any{"code": CodeTooManyOperations},
		}}})
	}
	var once sync.Once
	release := func() { once.Do(func() { <-slots }) }
	stop := context.AfterFunc(ctx, release)
	responses := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		r := responses(ctx)
		if r == nil {
			stop()
			release()
		}
		return r
	}
}

// initGate closes a connection whose first message is not connection_init (4401
// Unauthorized) or that sends none within timeout (4408), as graphql-transport-ws asks;
// gqlgen would close both with 1002. A connection_init whose payload is not an object is
// closed with 4400.
type initGate struct {
	impl    transport.WebsocketImplementation
	timeout time.Duration
	conns   *sync.Map // request context → *gatedConn, while the connection lasts
}

func (g initGate) Accept(w http.ResponseWriter, r *http.Request, o transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	c, err := g.impl.Accept(w, r, o)
	if err != nil {
		return nil, err
	}
	gc := &gatedConn{WebsocketConn: c}
	gc.timer = time.AfterFunc(g.timeout, func() {
		if gc.state.CompareAndSwap(waiting, timedOut) {
			c.WriteClose(closeInitTimeout, "Connection initialisation timeout")
		}
	})
	key := r.Context()
	g.conns.Store(key, gc)
	// The request's context ends when gqlgen is done with the connection, however it ended.
	context.AfterFunc(key, func() {
		g.conns.Delete(key)
		gc.stopTimers()
	})
	return gc, nil
}

const (
	waiting int32 = iota
	initialised
	timedOut
)

type gatedConn struct {
	transport.WebsocketConn
	timer *time.Timer
	state atomic.Int32

	mu     sync.Mutex
	expiry *time.Timer
}

// expireAt closes the connection at t, when the credentials it was opened with expire.
func (c *gatedConn) expireAt(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expiry = time.AfterFunc(time.Until(t), func() {
		c.WebsocketConn.WriteClose(closeUnauthorized, "Unauthorized: token expired")
	})
}

func (c *gatedConn) stopTimers() {
	c.timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expiry != nil {
		c.expiry.Stop()
	}
}

var errBeforeInit = errors.New("message before connection_init")

func (c *gatedConn) NextReader() (int, io.Reader, error) {
	typ, r, err := c.WebsocketConn.NextReader()
	if err != nil || c.state.Load() == initialised {
		return typ, r, err
	}
	c.timer.Stop()
	data, err := io.ReadAll(r)
	if err != nil {
		return typ, nil, err
	}
	var m struct {
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(data, &m) != nil || m.Type != "connection_init" {
		c.WebsocketConn.WriteClose(closeUnauthorized, "Unauthorized")
		return typ, nil, errBeforeInit
	}
	// gqlgen would drop the connection without closing it.
	if p := bytes.TrimSpace(m.Payload); len(p) > 0 && p[0] != '{' && string(p) != "null" {
		c.WebsocketConn.WriteClose(closeBadRequest, "Bad Request: the connection_init payload must be an object")
		return typ, nil, errBeforeInit
	}
	if !c.state.CompareAndSwap(waiting, initialised) {
		return typ, nil, errBeforeInit // timed out meanwhile
	}
	return typ, bytes.NewReader(data), nil
}

func (c *gatedConn) Close() error {
	c.stopTimers()
	return c.WebsocketConn.Close()
}

// SetReadLimit and SetReadDeadline pass on what gqlgen asks of the connection.
func (c *gatedConn) SetReadLimit(n int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(n)
	}
}

func (c *gatedConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}
