package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"catalogd/internal/ingest"
)

// Progress modes of catalogd ingest (--progress).
const (
	progressAuto  = "auto"  // a bar on a terminal, lines otherwise
	progressBar   = "bar"   // always the bar
	progressLines = "lines" // a line every --progress-interval
	progressOff   = "off"
)

// progressReporter shows how far the current location's read has come. The engine calls
// update from its workers; one goroutine renders, so the bar is never drawn concurrently.
type progressReporter struct {
	w        io.Writer
	bar      bool
	interval time.Duration

	loc       atomic.Pointer[string]
	docs, ent atomic.Int64
	changed   atomic.Bool

	stop chan struct{}
	done sync.WaitGroup
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProgress returns nil for mode off.
func newProgress(mode string, interval time.Duration, w io.Writer) (*progressReporter, error) {
	p := &progressReporter{w: w, interval: interval, stop: make(chan struct{})}
	switch mode {
	case progressOff:
		return nil, nil
	case progressAuto:
		p.bar = isTerminal(w)
	case progressBar:
		p.bar = true
	case progressLines:
	default:
		return nil, fmt.Errorf("--progress %q: use auto, bar, lines or off", excerpt(mode))
	}
	if interval <= 0 {
		return nil, fmt.Errorf("--progress-interval must be positive, got %s", interval)
	}
	return p, nil
}

// update is the engine's Progress callback.
func (p *progressReporter) update(loc string, pr ingest.Progress) {
	if cur := p.loc.Load(); cur == nil || *cur != loc {
		p.loc.Store(&loc)
	}
	p.docs.Store(pr.Documents)
	p.ent.Store(pr.Entities)
	p.changed.Store(true)
}

// start begins rendering the read of location key; finish ends it.
func (p *progressReporter) start(key string) {
	p.loc.Store(&key)
	p.docs.Store(0)
	p.ent.Store(0)
	p.stop = make(chan struct{})
	p.done.Add(1)
	go p.render(key)
}

func (p *progressReporter) finish() {
	close(p.stop)
	p.done.Wait()
}

func (p *progressReporter) render(key string) {
	defer p.done.Done()
	if !p.bar {
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				if p.changed.Swap(false) {
					fmt.Fprintf(p.w, "%s: %d documents read, %d entities applied\n", key, p.docs.Load(), p.ent.Load())
				}
			}
		}
	}
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(key),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("entities"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		// The library's own spinner ticker reads the bar's state without its lock (a data
		// race); this goroutine redraws every 100ms instead.
		progressbar.OptionSetSpinnerChangeInterval(0),
	)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			bar.Finish()
			return
		case <-t.C:
			bar.Describe(fmt.Sprintf("%s: %d documents", key, p.docs.Load()))
			bar.Set64(p.ent.Load())
		}
	}
}
