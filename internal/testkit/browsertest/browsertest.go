// Package browsertest drives headless Chromium (Debian's chromium package)
// through chromedp for Pulse's browser tests: one browser per test, its
// uncaught exceptions collected, steps that fail the test with the page's
// text and the exceptions seen. It is imported by tests only.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// Options configures Start.
type Options struct {
	// Width and Height are the window's size. Default 1280 × 1000.
	Width, Height int
	// Timeout bounds every step after Start (Do, Wait, Eval, Screenshot).
	// Default 3 minutes: generous, as the machine may be busy.
	Timeout time.Duration
	// Keep decides which console messages count as errors that Wait
	// reports and Errors returns. Default: uncaught exceptions only.
	Keep func(chromedp.ConsoleMessage) bool
}

// Browser is one headless Chromium for one test. Its methods fail the test
// (t.Fatalf) on an error; they must be called from the test's goroutine.
type Browser struct {
	t   testing.TB
	ctx context.Context // the steps' context, with Options.Timeout

	mu   sync.Mutex
	errs []string
}

// Start starts Chromium for t and stops it when t ends. Without Chromium it
// skips t, or fails it when the CI environment variable is set (CI must run
// the browser tests: apt-get install -y chromium).
func Start(t testing.TB, o Options) *Browser {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (apt-get install -y chromium): %v", ChromiumPath, err)
		}
		t.Skipf("%s is missing; install chromium to run the browser tests", ChromiumPath)
	}
	if o.Width == 0 || o.Height == 0 {
		o.Width, o.Height = 1280, 1000
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	if o.Keep == nil {
		o.Keep = func(m chromedp.ConsoleMessage) bool { return m.IsException() }
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(ChromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(o.Width, o.Height),
	)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	// Start the browser with no deadline: a deadline on the first
	// action's context would end the browser with it.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &Browser{t: t}
	consoleCtx, stopConsole := context.WithCancel(bctx)
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for m, err := range chromedp.Console(consoleCtx) {
			if err != nil {
				return
			}
			if o.Keep(m) {
				b.mu.Lock()
				b.errs = append(b.errs, m.String())
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { stopConsole(); <-consoleDone })
	ctx, cancel := context.WithTimeout(bctx, o.Timeout)
	t.Cleanup(cancel)
	b.ctx = ctx
	return b
}

// Context is the steps' context (with Options.Timeout), for chromedp calls
// the methods do not cover.
func (b *Browser) Context() context.Context { return b.ctx }

// Errors returns the console messages kept so far (Options.Keep).
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// Do runs steps in order; what names them in the failure.
func (b *Browser) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// Wait polls the JavaScript predicate until it is truthy, for at most
// within; on timeout it fails the test with the page's text and the
// console errors kept.
func (b *Browser) Wait(what, predicate string, within time.Duration) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(within))); err != nil {
		page, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById('app')?.innerText.slice(0, 1500) ?? document.body.innerText.slice(0, 1500)`))
		b.t.Fatalf("%s: waiting for %s: %v\nbrowser errors:\n%s\npage text:\n%s", what, predicate, err, strings.Join(b.Errors(), "\n"), page)
	}
}

// Eval evaluates the JavaScript expression and returns its string value.
func (b *Browser) Eval(expr string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// Screenshot saves the whole page as name.jpg in the test's artifact
// directory (go test -artifacts keeps them; see testing.T.ArtifactDir).
func (b *Browser) Screenshot(name string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(90))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.t.ArtifactDir(), name+".jpg"), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// Count is a JavaScript expression: how many elements match the CSS
// selector.
func Count(sel string) string { return fmt.Sprintf("document.querySelectorAll(%q).length", sel) }

// Text is a JavaScript expression: the text of the first element matching
// the CSS selector, or "".
func Text(sel string) string {
	return fmt.Sprintf("(document.querySelector(%q)?.textContent ?? '')", sel)
}
