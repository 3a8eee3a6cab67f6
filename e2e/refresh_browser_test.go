package e2e_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/internal/testkit/browsertest"
	"github.com/pulsehq/pulse/topics"
)

// TestRefreshPressReachesVisibleInBrowser: every component runs (the
// assembly's scheduler, fetcher against the simulator, normalizer,
// aggregator, sink, API and dashboard); a user presses Refresh in headless
// Chromium and the account's note goes from Queued to Up to date, through
// the real pipeline: the scheduler marked the job fetching when it emitted
// the press's request, and the API marked it visible once ClickHouse had
// an observation made after that. Screenshots of the dashboard before and
// after are test artifacts (go test -artifacts).
func TestRefreshPressReachesVisibleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := browsertest.Start(t, browsertest.Options{Timeout: 6 * time.Minute})
	// Real time everywhere: the press, the fetch and the observation are
	// ordered by the clock. No per-account spacing, so the press right
	// after the first fetch is not deferred.
	p := newPipeline(t, time.Now, time.Now, withScheduler(time.Hour, appOnly(36000)))
	p.startScheduler()
	p.startFetcher()
	p.startNormalizer()
	p.startAggregator()
	p.startSink()

	const email, password = "refresh@example.com", "correct horse battery staple"
	ctx := t.Context()
	u, err := p.pg.CreateUser(ctx, email, password)
	if err != nil {
		t.Fatal(err)
	}
	acct := p.sim.Accounts(topics.X)[0]
	p.mustLink(u.ID, topics.X, acct)
	links, err := p.pg.Links(ctx, u.ID)
	if err != nil || len(links) != 1 {
		t.Fatalf("links = %v, %v", links, err)
	}
	link := links[0]
	// The link's first fetch reaches ClickHouse before the press.
	testkit.Eventually(t, 2*time.Minute, func() error {
		seen, err := p.ch.LastObserved(ctx, u.ID, time.Now().Add(-2*time.Hour))
		if err != nil {
			return err
		}
		if seen[link.ID].IsZero() {
			return fmt.Errorf("no observation of the link yet")
		}
		return nil
	})

	do, wait, eval, screenshot := b.Do, b.Wait, b.Eval, b.Screenshot

	do("open", chromedp.Navigate(p.url+"/"), chromedp.WaitVisible(chromedp.CSS("#email")))
	do("sign in",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(".auth-form button[type=submit]")))
	row := fmt.Sprintf(`#accounts li.account[data-link-id=%q]`, link.ID)
	wait("the account", fmt.Sprintf(`!!document.querySelector(%q)`, row+" button.refresh-btn"), time.Minute)
	screenshot("refresh-before")

	// Every state the note shows, in order (a MutationObserver, so a
	// state shown between two polls of the test is not missed).
	eval(fmt.Sprintf(`(() => {
  window.jobStates = [];
  const seen = () => {
    const s = document.querySelector(%q)?.dataset.state;
    if (s && window.jobStates.at(-1) !== s) window.jobStates.push(s);
  };
  new MutationObserver(seen).observe(document.getElementById('app'), { subtree: true, childList: true, attributes: true });
  return 'ok';
})()`, row+" .refresh-note"))
	pressed := time.Now()
	do("press Refresh", chromedp.Click(chromedp.CSS(row+" button.refresh-btn")))
	note := fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? '')`, row+" .refresh-note")
	wait("visible", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === 'VISIBLE' && %s === 'Up to date'`, row+" .refresh-note", note), 3*time.Minute)
	screenshot("refresh-visible")

	states := strings.Split(eval(`window.jobStates.join(',')`), ",")
	t.Logf("states the dashboard showed: %v", states)
	order := []string{"QUEUED", "FETCHING", "PROCESSED", "VISIBLE"}
	last := -1
	for _, s := range states {
		i := slices.Index(order, s)
		if i < last {
			t.Errorf("the note went back to %s (shown: %v)", s, states)
		}
		if i < 0 {
			t.Errorf("the note showed %s (shown: %v); want only %v", s, states, order)
		}
		last = max(last, i)
	}
	if states[len(states)-1] != "VISIBLE" {
		t.Errorf("last state %s; want VISIBLE", states[len(states)-1])
	}

	// The job behind it: the scheduler moved it (fetching since its
	// request, after the press); the API made it visible.
	jobs, err := p.pg.RefreshJobs(ctx, u.ID)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs = %+v, %v; want the one press", jobs, err)
	}
	j := jobs[0]
	if j.State != pulse.JobVisible || j.FetchingAt.IsZero() || j.FetchingAt.Before(j.CreatedAt) || j.CreatedAt.Before(pressed.Add(-time.Second)) {
		t.Errorf("job %+v; want visible, fetching since the scheduler emitted its request after the press at %v", j, pressed)
	}
	seen, err := p.ch.LastObserved(ctx, u.ID, j.FetchingAt)
	if err != nil || seen[link.ID].Before(j.FetchingAt) {
		t.Errorf("newest observation %v (%v); want one made after the fetch began at %v", seen[link.ID], err, j.FetchingAt)
	}
}
