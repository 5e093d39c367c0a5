package graph

import (
	"context"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

func TestWebsocketOperationsAreBoundedPerConnection(t *testing.T) {
	conn := context.WithValue(context.Background(), slotsKey{}, make(chan struct{}, 2))
	ran := 0
	op := func(ctx context.Context) graphql.ResponseHandler {
		ran++
		return graphql.OneShot(&graphql.Response{Data: []byte(`{"ok":true}`)})
	}
	refused := func(h graphql.ResponseHandler) bool {
		r := h(conn)
		return r != nil && len(r.Errors) == 1 && r.Errors[0].Extensions["code"] == CodeTooManyOperations
	}
	drain := func(h graphql.ResponseHandler) {
		for h(conn) != nil {
		}
	}

	first := limitOperations(conn, op)
	ctx2, cancel2 := context.WithCancel(conn)
	second := limitOperations(ctx2, op)
	if third := limitOperations(conn, op); !refused(third) || ran != 2 {
		t.Fatalf("a third operation beside two running ones was not refused (ran %d)", ran)
	}
	// An operation's slot is free once its last response is out...
	drain(first)
	if h := limitOperations(conn, op); refused(h) {
		t.Fatal("the slot of a finished operation was not freed")
	} else {
		drain(h)
	}
	// ... or its context has ended (a stopped operation, a closed connection).
	_ = second
	cancel2()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h := limitOperations(conn, op)
		if !refused(h) {
			drain(h)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slot of a cancelled operation was not freed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Requests over HTTP have no slots and are not limited.
	for i := 0; i < 10; i++ {
		if refused(limitOperations(context.Background(), op)) {
			t.Fatal("an HTTP request was refused")
		}
	}
}
