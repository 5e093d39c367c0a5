// Command catalogd is the software catalog server. main only calls run; run wires everything.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if err != errSilent {
			fmt.Fprintln(os.Stderr, "catalogd:", err)
		}
		os.Exit(1)
	}
}

// errSilent ends the program with status 1 after the command has already said why.
var errSilent = fmt.Errorf("failed")

var _ io.Writer = os.Stdout
