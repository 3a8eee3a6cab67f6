// Command pulse runs Pulse's components: each alone against external
// engines, or all in one process on embedded defaults (pulse dev). Every
// command builds its components through package assembly.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
