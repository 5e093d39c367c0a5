// Command catalogd is the software catalog server. main only calls run; run wires everything.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts the graceful shutdown; once it is caught the default action is
	// restored, so a second one ends the process at once.
	go func() { <-ctx.Done(); stop() }()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		var ec *exitCode
		if errors.As(err, &ec) {
			os.Exit(ec.code)
		}
		if err != errSilent {
			fmt.Fprintln(os.Stderr, "catalogd:", err)
		}
		os.Exit(1)
	}
}

// exitCode ends the program with its status after the command has already said why.
type exitCode struct{ code int }

func (e *exitCode) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// errRejected is what ingest returns when documents were rejected: status 2, so a CI job notices.
var errRejected = &exitCode{2}

// errSilent ends the program with status 1 after the command has already said why.
var errSilent = fmt.Errorf("failed")

var _ io.Writer = os.Stdout
