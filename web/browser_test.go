package web_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/internal/testkit/browsertest"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/x"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/topics"
	"github.com/pulsehq/pulse/web"
)

func TestMain(m *testing.M) {
	testkit.WrapTestMain(m)
}

// screenshotEnv names a file to write a full-page screenshot of the
// signed-in dashboard to, e.g. PULSE_WEB_SCREENSHOT=/tmp/dashboard.png.
const screenshotEnv = "PULSE_WEB_SCREENSHOT"

const (
	testEmail    = "ada@example.com"
	testPassword = "correct horse battery staple"
)

// fakeNow stands in for the aggregator's view (graph.Now): it is loading
// (Get fails, so the API answers UNAVAILABLE) until the first publish.
type fakeNow struct {
	mu   sync.Mutex
	aggs map[string]*topics.UserAggregate
	subs map[string]map[chan *topics.UserAggregate]struct{}
}

func newFakeNow() *fakeNow {
	return &fakeNow{aggs: map[string]*topics.UserAggregate{}, subs: map[string]map[chan *topics.UserAggregate]struct{}{}}
}

func (f *fakeNow) Get(userID string) (*topics.UserAggregate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.aggs[userID]; ok {
		return a, nil
	}
	return nil, errors.New("fakeNow: loading")
}

func (f *fakeNow) Subscribe(userID string) (<-chan *topics.UserAggregate, func()) {
	ch := make(chan *topics.UserAggregate, 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs[userID] == nil {
		f.subs[userID] = map[chan *topics.UserAggregate]struct{}{}
	}
	f.subs[userID][ch] = struct{}{}
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs[userID], ch)
	}
}

// publish stores a as its user's current aggregate and sends it to their
// subscribers, replacing an update a subscriber has not taken yet.
func (f *fakeNow) publish(a *topics.UserAggregate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aggs[a.UserID] = a
	for ch := range f.subs[a.UserID] {
		select {
		case <-ch:
		default:
		}
		ch <- a
	}
}

// purger records analytics purges. ClickHouse's own purge waits for its
// mutations, which takes seconds on a busy machine; it is tested in the
// api and clickhouse packages.
type purger struct {
	mu    sync.Mutex
	users []string
}

func (p *purger) Purge(_ context.Context, req pulse.PurgeRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users = append(p.users, req.UserID)
	return nil
}

// mailbox records the mails the API sends.
type mailbox struct {
	mu    sync.Mutex
	mails []pulse.Mail
}

func (m *mailbox) Send(_ context.Context, mail pulse.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails = append(m.mails, mail)
	return nil
}

// link returns the path and fragment of the sign-up link last mailed to
// addr, or "".
func (m *mailbox) link(addr string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	re := regexp.MustCompile(`/#/verify\?token=[A-Za-z0-9_-]+`)
	for i := len(m.mails) - 1; i >= 0; i-- {
		if l := re.FindString(m.mails[i].Text); m.mails[i].To == addr && l != "" {
			return l
		}
	}
	return ""
}

func (p *purger) purged() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.users)
}

// seed creates a user with X and Instagram accounts linked, 30 days of
// follower snapshots for each (hourly for the last two days, every six
// hours before) and 25 posts.
func seed(t *testing.T, pg *postgres.DB, ch *clickhouse.DB) (u pulse.User, xLink, igLink pulse.Link) {
	t.Helper()
	ctx := t.Context()
	u, err := pg.CreateUser(ctx, testEmail, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	tok := &oauth2.Token{AccessToken: "a", RefreshToken: "r", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}
	xLink, err = pg.UpsertLink(ctx, u.ID, topics.X, "x-1", "@ada", tok, "read")
	if err != nil {
		t.Fatal(err)
	}
	igLink, err = pg.UpsertLink(ctx, u.ID, topics.Instagram, "ig-1", "ada.photos", tok, "read")
	if err != nil {
		t.Fatal(err)
	}

	now := time.Now().UTC().Truncate(time.Hour)
	var snaps []topics.AccountSnapshot
	for i := 30 * 24; i >= 0; i-- {
		if i > 48 && i%6 != 0 {
			continue
		}
		hour := now.Add(-time.Duration(i) * time.Hour)
		step := int64(30*24 - i)
		for _, l := range []struct {
			link pulse.Link
			base int64
			rate int64
		}{{xLink, 12400, 3}, {igLink, 8100, 7}} {
			obs := hour.Add(5 * time.Minute)
			if latest := time.Now().UTC().Add(-time.Minute); obs.After(latest) {
				obs = latest // never after a refresh press
			}
			snaps = append(snaps, topics.AccountSnapshot{
				V: topics.AccountSnapshotVersion, LinkID: l.link.ID, UserID: u.ID, Platform: l.link.Platform,
				AccountID: l.link.AccountID, Handle: l.link.Handle, Hour: hour, ObservedAt: obs,
				Followers: l.base + l.rate*step + (step%17)*4, Following: 200, PostsCount: 40 + step/24,
				Version: obs.UnixMilli(),
			})
		}
	}
	if err := ch.InsertSnapshots(ctx, snaps); err != nil {
		t.Fatal(err)
	}

	var posts []topics.Post
	for i := range 25 {
		l := xLink
		if i%2 == 1 {
			l = igLink
		}
		created := now.Add(-time.Duration(i*5+1) * time.Hour)
		posts = append(posts, topics.Post{
			V: topics.PostVersion, LinkID: l.ID, UserID: u.ID, Platform: l.Platform, AccountID: l.AccountID,
			PostID: fmt.Sprintf("p%02d", i), CreatedAt: created, ObservedAt: now,
			Text:      fmt.Sprintf("Post %02d: shipping the new analytics pipeline <b>not bold</b>", i),
			Permalink: fmt.Sprintf("https://example.com/%s/p%02d", l.Platform, i),
			Likes:     int64(120 - i), Comments: int64(i), Shares: 3, Views: int64(1000 * (i % 3)),
			Version: now.UnixMilli(),
		})
	}
	if err := ch.InsertPosts(ctx, posts); err != nil {
		t.Fatal(err)
	}
	return u, xLink, igLink
}

// aggregate is the user's live summary as the aggregator would publish it.
func aggregate(u pulse.User, xLink, igLink pulse.Link, xFollowers, xDelta24h int64, at time.Time) *topics.UserAggregate {
	return &topics.UserAggregate{V: topics.UserAggregateVersion, UserID: u.ID, UpdatedAt: at, Accounts: []topics.AccountAggregate{
		{LinkID: xLink.ID, Platform: topics.X, AccountID: xLink.AccountID, Handle: xLink.Handle, Followers: xFollowers,
			Following: 200, PostsCount: 70, ObservedAt: at, Delta24h: xDelta24h, Delta7d: 504, Delta30d: 2160,
			EngagementRate: 0.0345, Posts30d: 13},
		{LinkID: igLink.ID, Platform: topics.Instagram, AccountID: igLink.AccountID, Handle: igLink.Handle, Followers: 13140,
			Following: 200, PostsCount: 70, ObservedAt: at.Add(-2 * time.Minute), Delta24h: -12, Delta7d: 1176, Delta30d: 5040,
			EngagementRate: 0.0102, Posts30d: 12},
	}}
}

// TestDashboardInBrowser drives the dashboard in headless Chromium against
// the real API, PostgreSQL and ClickHouse.
func TestDashboardInBrowser(t *testing.T) {
	b := browsertest.Start(t, browsertest.Options{Width: 1440, Height: 1000,
		// Console errors count too; the failed sign-in's 401 is expected.
		Keep: func(m chromedp.ConsoleMessage) bool {
			if m.Source == "network" && strings.Contains(m.Text, "401") {
				return false
			}
			return m.IsException() || m.Type == chromedp.ConsoleError
		}})
	ctx := b.Context()
	do, eval, screenshot := b.Do, b.Eval, b.Screenshot
	// wait polls a JavaScript predicate until it is truthy.
	wait := func(what, predicate string) {
		t.Helper()
		b.Wait(what, predicate, 30*time.Second)
	}
	count, text := browsertest.Count, browsertest.Text
	pg := pgtest.MustOpen(t)
	ch := chtest.MustOpen(t)
	user, xLink, igLink := seed(t, pg, ch)
	now := newFakeNow()
	purged := &purger{}
	mails := &mailbox{}

	// Only X is linkable: the others have no connector on this server.
	xConn, err := x.New(platforms.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{
		Users: pg, Sessions: pg, Throttle: pg, OAuthStates: pg, Links: pg, Purges: pg,
		Metrics: ch, Web: web.Handler(),
		Connectors: map[topics.Platform]platforms.Connector{topics.X: xConn},
		Now:        now,
		Purger:     purged,
		Mailer:     mails,
		Logger:     slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	// Signed out: the sign-in form. A wrong password shows the API's error.
	do("open", chromedp.Navigate(hs.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#email")))
	if loc := eval(`location.hash`); loc != "#/signin" {
		t.Errorf("signed-out route = %q, want #/signin", loc)
	}
	do("wrong password",
		chromedp.SendKeys(chromedp.CSS("#email"), testEmail),
		chromedp.SendKeys(chromedp.CSS("#password"), "not the password"),
		chromedp.Click(chromedp.CSS(".auth-form button[type=submit]")))
	wait("sign-in error", text("#auth-error")+`.includes('Incorrect email or password')`)

	// Sign in.
	do("sign in",
		chromedp.SetValue(chromedp.CSS("#password"), testPassword),
		chromedp.Click(chromedp.CSS(".auth-form button[type=submit]")))
	wait("header", text(".user-email")+` === `+fmt.Sprintf("%q", testEmail))

	// The chart draws one line per account, with real geometry.
	wait("chart lines", count("#metrics svg path.series-line")+` === 2`)

	// Top posts of the range: by likes (the seed's post 00 has the most),
	// then by engagement rate.
	wait("top posts", count("#top li.top-post")+` === 5 && `+text("#top li.top-post .top-text")+`.startsWith('Post 00:') && `+
		text("#top li.top-post .top-value")+` === '120'`)
	do("top by engagement", chromedp.SetValue(chromedp.CSS("#top-by"), "ENGAGEMENT"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('top-by').dispatchEvent(new Event('change'))`))
	wait("top by engagement", count("#top li.top-post")+` === 5 && `+text("#top li.top-post .top-value")+`.endsWith('%')`)
	if got := eval(`[...document.querySelectorAll('#metrics path.series-line')].map(p => p.dataset.account).sort().join(',')`); got != "INSTAGRAM:ig-1,X:x-1" {
		t.Errorf("chart lines for %q", got)
	}
	wait("line geometry", `[...document.querySelectorAll('#metrics path.series-line')].every(p => p.getTotalLength() > 100)`)
	wait("axes", count("#metrics .axis-x .tick")+` > 3 && `+count("#metrics .axis-y .tick")+` > 2`)
	wait("summary cards", count("#metrics .summary")+` === 2`)

	// Totals first: all platforms, then one per platform, the sum of the
	// platforms' (from GraphQL trends); and the range's CSV download.
	wait("totals", count("#metrics .totals li.total")+` === 3`)
	if got := eval(`[...document.querySelectorAll('#metrics .totals li.total')].map(li => li.dataset.platform).join(',')`); got != "ALL,INSTAGRAM,X" {
		t.Errorf("totals for %q, want ALL,INSTAGRAM,X", got)
	}
	if got := eval(`(() => { const v = (p) => Number(document.querySelector('#metrics .total[data-platform=' + p + '] .total-value').textContent.replace(/\D/g, ''));
		return String(v('ALL') === v('X') + v('INSTAGRAM') && v('X') > 0 && v('INSTAGRAM') > 0); })()`); got != "true" {
		t.Errorf("the all-platforms total is not the sum of the platforms'")
	}
	csvHead, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector('#metrics a.export-link').href).then(r => r.ok ? r.text() : 'HTTP ' + r.status).then(t => t.split('\n')[0])`,
		chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(csvHead, "platform,account_id,handle,bucket,followers") {
		t.Errorf("the CSV download starts %q (%v)", csvHead, err)
	}
	// Parquet starts with PAR1; an Arrow IPC stream with the continuation
	// marker 0xFFFFFFFF.
	magic, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Promise.all(['parquet', 'arrow'].map((f) =>
		fetch(document.querySelector('#metrics a.export-link[data-format=' + f + ']').href).then(r => r.arrayBuffer())
		.then(b => [...new Uint8Array(b.slice(0, 4))].map(x => x.toString(16)).join(' ')))).then(a => a.join('|'))`,
		chromedp.EvalAwaitPromise))
	if err != nil || magic != "50 41 52 31|ff ff ff ff" {
		t.Errorf("the Parquet and Arrow downloads start %q (%v); want PAR1 and the Arrow stream's marker", magic, err)
	}

	// The trend of all platforms together: its total, the least-squares
	// line (a straight segment across the whole range, rising: the seed
	// grows) and the previous period's overlay.
	wait("trend chart", count("#metrics .trend-body path.trend-line")+` === 1 && `+count("#metrics .trend-body path.trend-fit")+` === 1`)
	wait("trend line geometry", `document.querySelector('#metrics .trend-body path.trend-line').getTotalLength() > 100`)
	if got := eval(`(() => {
		const d = document.querySelector('#metrics .trend-body path.trend-fit').getAttribute('d');
		const n = d.match(/-?[\d.]+/g).map(Number);
		const w = Number(document.querySelector('#metrics .trend-body rect.overlay').getAttribute('width'));
		return [n.length, n[0] === 0, Math.abs(n[2] - w) < 0.5, n[3] < n[1]].join(',');
	})()`); got != "4,true,true,true" {
		t.Errorf("slope line (points, starts at the range's start, ends at its last bucket, rises) = %q, want 4,true,true,true", got)
	}

	// Likes and comments gained: a line per account in their own charts,
	// summing the seed's posts (X: the even posts, Instagram: the odd).
	wait("likes and comments charts", count("#metrics .likes-chart path.likes-line")+` === 2 && `+count("#metrics .comments-chart path.comments-line")+` === 2`)
	if got := eval(`[...document.querySelectorAll('#metrics .likes-chart path.likes-line')].map(p => p.dataset.account).sort().join(',')`); got != "INSTAGRAM:ig-1,X:x-1" {
		t.Errorf("likes chart lines for %q", got)
	}
	var xLikes, igLikes, xComments, igComments int
	for i := range 25 {
		if i%2 == 0 {
			xLikes, xComments = xLikes+120-i, xComments+i
		} else {
			igLikes, igComments = igLikes+120-i, igComments+i
		}
	}
	for sel, want := range map[string][]string{
		"#metrics .likes-chart svg":    {fmt.Sprintf("on X: %s in all", commas(xLikes)), fmt.Sprintf("on Instagram: %s in all", commas(igLikes))},
		"#metrics .comments-chart svg": {fmt.Sprintf("on X: %s in all", commas(xComments)), fmt.Sprintf("on Instagram: %s in all", commas(igComments))},
	} {
		got := eval(fmt.Sprintf(`document.querySelector(%q).getAttribute('aria-label')`, sel))
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s label = %q, want it to contain %q", sel, got, w)
			}
		}
	}

	// A custom range: an invalid one is refused with a reason; a valid one
	// (the last 10 days) reloads the chart, totals and trend for it, with
	// the previous 10 days laid over the trend.
	today := time.Now().UTC().Format(time.DateOnly)
	tenDaysAgo := time.Now().UTC().AddDate(0, 0, -9).Format(time.DateOnly)
	do("reversed custom range",
		chromedp.SetValue(chromedp.CSS("#range-from"), today),
		chromedp.SetValue(chromedp.CSS("#range-to"), tenDaysAgo),
		chromedp.Click(chromedp.CSS(".custom-range button[type=submit]")))
	wait("custom range error", text("#range-error")+`.includes('start date is after the end date')`)
	do("custom range",
		chromedp.SetValue(chromedp.CSS("#range-from"), tenDaysAgo),
		chromedp.SetValue(chromedp.CSS("#range-to"), today),
		chromedp.Click(chromedp.CSS(".custom-range button[type=submit]")))
	wait("custom range head", text("#metrics .panel-sub")+fmt.Sprintf(` === %q`, tenDaysAgo+" to "+today+", daily"))
	// 10 daily buckets: 9 curve segments per account line (30 before).
	wait("custom range chart", count("#metrics .metrics-body path.series-line")+` === 2 && [...document.querySelectorAll('#metrics .metrics-body path.series-line')].every(p => (p.getAttribute('d').match(/C/g) || []).length === 9)`)
	wait("custom range overlay", count("#metrics .trend-body path.trend-previous")+` === 1 && document.querySelector('#metrics .trend-body path.trend-previous').getTotalLength() > 100 && (document.querySelector('#metrics .trend-body path.trend-previous').getAttribute('d').match(/C/g) || []).length >= 8`)
	if got := eval(`[...document.querySelectorAll('input[name=grain]')].some(i => i.checked) + ',' + decodeURIComponent(document.querySelector('#metrics a.export-link').href)`); !strings.HasPrefix(got, "false,") || !strings.Contains(got, "from="+tenDaysAgo+"T00:00:00.000Z") {
		t.Errorf("custom range: grain buttons checked, export link = %q; want none checked and the link from %s", got, tenDaysAgo)
	}
	screenshot("custom-range-trend")
	do("back to days", chromedp.Click(chromedp.CSS(".custom-range .range-clear")))
	wait("default range", text("#metrics .panel-sub")+` === 'Last 30 days, daily' && `+count("#metrics .metrics-body path.series-line")+` === 2`)

	// The live summary is unavailable while the aggregates load: the cards
	// show the chart's figures until a retry of the subscription succeeds.
	wait("fallback cards", `document.querySelector('#metrics .now')?.dataset.live === 'down' && `+
		count("#metrics .summary")+` === 2 && `+count("#metrics .summary-live")+` === 0`)
	now.publish(aggregate(user, xLink, igLink, 14563, 72, time.Now()))
	wait("live cards", count("#metrics .summary-live")+` === 2 && `+text(".topbar .sync")+` === 'Live'`)
	card := func(l pulse.Link) string {
		t.Helper()
		return eval(fmt.Sprintf(`(() => {
			const c = document.querySelector('#metrics .summary-live[data-link-id=%q]');
			if (!c) return 'no card';
			const d = (k) => { const e = c.querySelector('.delta-' + k);
				return e.querySelector('.delta-value').textContent.replace(/[▲▼]/g, '') + ' ' + e.className.match(/change-(\w+)/)[1]; };
			return [c.querySelector('.followers').textContent, d('24h'), d('7d'), d('30d'),
				c.querySelector('.engagement').textContent, c.querySelector('.posts-30d').textContent].join(' | ');
		})()`, l.ID))
	}
	if got, want := card(xLink), "14,563 | +72 up | +504 up | +2,160 up | 3.45% | 13"; got != want {
		t.Errorf("X live card = %q, want %q", got, want)
	}
	if got, want := card(igLink), "13,140 | -12 down | +1,176 up | +5,040 up | 1.02% | 12"; got != want {
		t.Errorf("Instagram live card = %q, want %q", got, want)
	}
	if got := eval(text(fmt.Sprintf(`#metrics .summary-live[data-link-id=%q] .summary-updated`, xLink.ID))); !regexp.MustCompile(`^updated (just now|\d+s ago)$`).MatchString(got) {
		t.Errorf("X card updated = %q", got)
	}
	do("mark the page", chromedp.Evaluate[chromedp.Void](`window.pulseNotReloaded = true`))

	// Accounts: every platform with its status; Link goes to the OAuth
	// route, for linkable platforms only.
	wait("accounts", count("#accounts li.platform")+` === 4`)
	if got := eval(`[...document.querySelectorAll('#accounts li.platform')].map(li => li.dataset.platform + '=' + li.querySelector('.platform-head .pill').textContent).join(',')`); got != "FACEBOOK=Not linked,INSTAGRAM=Active,X=Active,LINKEDIN=Not linked" {
		t.Errorf("platform statuses = %q", got)
	}
	if got := eval(`document.querySelector('#accounts li[data-platform=X] a.link-btn')?.getAttribute('href') ?? ''`); got != "/oauth/x/start" {
		t.Errorf("X link href = %q", got)
	}
	if got := eval(`document.querySelector('#accounts li[data-platform=FACEBOOK]').innerText`); strings.Contains(got, "Link") || !strings.Contains(got, "Not available") {
		t.Errorf("Facebook (no connector) card = %q, want no Link button", got)
	}

	// The feed: a page of 20, then the rest with "load more".
	wait("feed", count("#feed li.post")+` === 20`)
	if got := eval(text("#feed li.post .post-text")); got != "Post 00: shipping the new analytics pipeline <b>not bold</b>" {
		t.Errorf("first post text = %q (want the newest, as text)", got)
	}
	if got := eval(`document.querySelector('#feed li.post a.permalink').href`); got != "https://example.com/x/p00" {
		t.Errorf("permalink = %q", got)
	}

	// Hovering the chart shows a tooltip with the time and values.
	do("scroll chart into view", chromedp.Evaluate[chromedp.Void](`document.querySelector('#metrics .metrics-body rect.overlay').scrollIntoView({block: 'center'})`))
	pt, err := chromedp.Run(ctx, chromedp.Evaluate[struct{ X, Y float64 }](
		`(() => { const r = document.querySelector('#metrics .metrics-body rect.overlay').getBoundingClientRect(); return {X: r.x + r.width * 0.75, Y: r.y + r.height / 2}; })()`))
	if err != nil {
		t.Fatal(err)
	}
	do("hover", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, pt.X, pt.Y))
	wait("tooltip", `!document.querySelector('#metrics .metrics-body .chart-tooltip').hidden && `+count("#metrics .metrics-body .chart-tooltip li")+` === 2`)

	if p := os.Getenv(screenshotEnv); p != "" {
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	do("load more", chromedp.Click(chromedp.CSS("#feed button.load-more")))
	wait("second page", count("#feed li.post")+` === 25 && `+text("#feed .feed-end")+`.includes('caught up')`)

	// A push changes the cards in place and, soon after, the feed and chart.
	pushed := time.Now().UTC()
	if err := ch.InsertPosts(ctx, []topics.Post{{
		V: topics.PostVersion, LinkID: xLink.ID, UserID: user.ID, Platform: topics.X, AccountID: xLink.AccountID,
		PostID: "p99", CreatedAt: pushed.Add(-time.Minute), ObservedAt: pushed, Text: "Post 99: seen live",
		Permalink: "https://example.com/x/p99", Likes: 1, Version: pushed.UnixMilli(),
	}}); err != nil {
		t.Fatal(err)
	}
	now.publish(aggregate(user, xLink, igLink, 14600, -5, pushed))
	wait("pushed numbers", fmt.Sprintf(`document.querySelector('#metrics .summary-live[data-link-id=%q] .followers')?.textContent === '14,600'`, xLink.ID))
	if got, want := card(xLink), "14,600 | -5 down | +504 up | +2,160 up | 3.45% | 13"; got != want {
		t.Errorf("X live card after a push = %q, want %q", got, want)
	}
	wait("feed after push", text("#feed li.post .post-text")+` === 'Post 99: seen live' && `+count("#feed li.post")+` === 26`)
	if got := eval(`String(window.pulseNotReloaded)`); got != "true" {
		t.Errorf("the page reloaded for a push")
	}

	// Refresh: the job's state shows as the pipeline moves it (the test
	// plays the scheduler and fetcher on PostgreSQL, and the sink on
	// ClickHouse): queued, fetching, processed, then visible once
	// ClickHouse has an observation made after the fetch began.
	xRow := fmt.Sprintf(`#accounts li.account[data-link-id=%q]`, xLink.ID)
	refresh := chromedp.CSS(xRow + " button.refresh-btn")
	note := text(xRow + " .refresh-note")
	jobState := fmt.Sprintf(`(document.querySelector(%q)?.dataset.state ?? '')`, xRow+" .refresh-note")
	do("refresh", chromedp.Click(refresh))
	wait("queued", jobState+` === 'QUEUED' && `+note+` === 'Queued'`)
	jobID := eval(fmt.Sprintf(`document.querySelector(%q).dataset.job`, xRow+" .refresh-note"))
	do("refresh again", chromedp.Click(refresh))
	wait("same job", jobState+` === 'QUEUED' && `+fmt.Sprintf(`document.querySelector(%q).dataset.job === %q`, xRow+" .refresh-note", jobID))
	screenshot("refresh-queued")
	fetchAt := time.Now().UTC()
	if err := pg.JobsFetching(ctx, []string{xLink.ID}, fetchAt); err != nil {
		t.Fatal(err)
	}
	wait("fetching", jobState+` === 'FETCHING' && `+note+` === 'Fetching…'`)
	if err := pg.JobsFetched(ctx, []string{xLink.ID}, true, ""); err != nil {
		t.Fatal(err)
	}
	wait("processed", `['PROCESSED', 'VISIBLE'].includes(`+jobState+`)`)
	obs := fetchAt.Add(100 * time.Millisecond)
	if err := ch.InsertSnapshots(ctx, []topics.AccountSnapshot{{V: topics.AccountSnapshotVersion, LinkID: xLink.ID, UserID: user.ID,
		Platform: topics.X, AccountID: xLink.AccountID, Handle: xLink.Handle, Hour: obs.Truncate(time.Hour), ObservedAt: obs,
		Followers: 14601, Following: 200, PostsCount: 70, Version: obs.UnixMilli()}}); err != nil {
		t.Fatal(err)
	}
	wait("visible", jobState+` === 'VISIBLE' && `+note+` === 'Up to date'`)
	screenshot("refresh-visible")
	// Pressed again right after: the scheduler defers it for spacing.
	do("refresh once more", chromedp.Click(refresh))
	wait("queued again", jobState+` === 'QUEUED' && `+fmt.Sprintf(`document.querySelector(%q).dataset.job !== %q`, xRow+" .refresh-note", jobID))
	if err := pg.JobsDeferred(ctx, []string{xLink.ID}, pulse.DeferSpacing, time.Now().Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	wait("deferred", jobState+` === 'DEFERRED' && `+note+`.startsWith('Deferred: spacing') && `+note+`.includes('runs at')`)
	screenshot("refresh-deferred")

	// A link needing re-authorization shows it, with no Refresh button.
	if err := pg.MarkLinkStatus(ctx, igLink.ID, pulse.LinkNeedsReauth, "the token was revoked"); err != nil {
		t.Fatal(err)
	}
	igAccount := fmt.Sprintf(`#accounts li.account[data-link-id=%q]`, igLink.ID)
	do("reload accounts", chromedp.Navigate(hs.URL+"/#/accounts"))
	wait("needs re-auth", text(igAccount+" .pill")+` === 'Needs re-auth' && `+text(igAccount+" .reason")+` === 'the token was revoked' && `+
		count(igAccount+" button.refresh-btn")+` === 0 && `+text("#accounts li[data-platform=INSTAGRAM] a.link-btn")+` === ''`)
	screenshot("needs-reauth")
	if err := pg.MarkLinkStatus(ctx, igLink.ID, pulse.LinkActive, ""); err != nil {
		t.Fatal(err)
	}
	do("reload accounts again", chromedp.Navigate(hs.URL+"/#/accounts"))
	wait("active again", count(igAccount+" button.refresh-btn")+` === 1`)

	// Grain and platform filter.
	do("hourly", chromedp.Click(chromedp.CSS(`#metrics input[name=grain][value=HOUR]`)))
	wait("hourly lines", count("#metrics svg path.series-line")+` === 2 && `+text("#metrics .panel-sub")+`.includes('48 hours')`)
	do("hide X", chromedp.Click(chromedp.CSS(`.filters input[value=X]`)))
	wait("filtered", count("#metrics svg path.series-line")+` === 1 && `+count("#feed li.post")+` > 0 && `+
		`[...document.querySelectorAll('#feed li.post')].every(li => li.dataset.platform === 'INSTAGRAM')`)

	// Unlink asks first; cancelling keeps the account, confirming removes it
	// (from PostgreSQL too).
	igRow := fmt.Sprintf(`#accounts li.account[data-link-id=%q]`, igLink.ID)
	do("unlink", chromedp.Click(chromedp.CSS(igRow+" button.unlink-btn")))
	wait("unlink dialog", text("dialog.dialog[open] h2")+` === 'Unlink ada.photos?'`)
	do("cancel unlink", chromedp.Click(chromedp.CSS("dialog.dialog button.dialog-cancel")))
	wait("kept", count("dialog.dialog")+` === 0 && `+count(igRow)+` === 1`)
	do("unlink again", chromedp.Click(chromedp.CSS(igRow+" button.unlink-btn")))
	wait("unlink dialog again", count("dialog.dialog[open]")+` === 1`)
	do("confirm unlink", chromedp.Click(chromedp.CSS("dialog.dialog button.dialog-confirm")))
	wait("unlinked", count(igRow)+` === 0 && `+count("dialog.dialog")+` === 0 && `+
		text("#accounts li[data-platform=INSTAGRAM] .platform-head .pill")+` === 'Not linked' && `+
		text(".flash-ok p")+`.startsWith('Unlinked ada.photos')`)
	if links, err := pg.Links(ctx, user.ID); err != nil || len(links) != 1 || links[0].ID != xLink.ID {
		t.Errorf("links after unlink = %+v, %v; want only X", links, err)
	}

	// X serves no history: the card says so.
	if got := eval(text(`#accounts li[data-platform=X] .history-note`)); !strings.HasPrefix(got, "No history") {
		t.Errorf("X history note = %q, want it to say there is none", got)
	}

	// A consent covering several accounts: the user ticks which to link;
	// nothing is linked before, only the ticked one after.
	grant, err := pg.CreateLinkGrant(ctx, user.ID, topics.X, []pulse.GrantAccount{{ID: "x-7", Handle: "seven"}, {ID: "x-8", Handle: "eight"}},
		&oauth2.Token{AccessToken: "grant-token-value"}, "", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	do("choose", chromedp.Navigate(hs.URL+"/#/accounts?platform=x&choose="+grant.ID))
	wait("chooser", text("dialog.dialog[open] h2")+` === 'Choose the X accounts to link' && `+count(`dialog.dialog input[name=account]`)+` === 2 && `+
		`[...document.querySelectorAll('dialog.dialog input[name=account]')].every(i => !i.checked)`)
	do("tick eight", chromedp.Click(chromedp.CSS(`dialog.dialog input[value="x-8"]`)))
	do("link selected", chromedp.Click(chromedp.CSS("dialog.dialog button.dialog-confirm")))
	wait("chosen linked", count("dialog.dialog")+` === 0 && `+text(".flash-ok p")+`.startsWith('1 X account linked')`)
	if links, err := pg.Links(ctx, user.ID); err != nil || len(links) != 2 || links[1].AccountID != "x-8" {
		t.Errorf("links after choosing = %+v, %v; want X and x-8", links, err)
	}

	// The OAuth callback lands on #/accounts with the outcome.
	do("link result", chromedp.Navigate(hs.URL+"/#/accounts?platform=x&link_error=access_denied"))
	wait("link error", text(".flash-error p")+` === 'Linking X was cancelled.' && location.hash === '#/'`)
	do("link result", chromedp.Navigate(hs.URL+"/#/accounts?linked=x"))
	wait("linked", text(".flash-ok p")+`.startsWith('X account linked.')`)

	// Sign out.
	do("sign out", chromedp.Click(chromedp.CSS(".topbar button.btn-ghost")))
	wait("signed out", `location.hash === '#/signin' && !!document.querySelector('#email')`)

	// Delete the account: a wrong password is refused; the right one
	// deletes it and signs out.
	do("sign in again",
		chromedp.SendKeys(chromedp.CSS("#email"), testEmail),
		chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
		chromedp.Click(chromedp.CSS(".auth-form button[type=submit]")))
	wait("signed in again", text(".user-email")+` === `+fmt.Sprintf("%q", testEmail))
	// The charts load after the sign-in and move the layout: wait for them,
	// then press the button itself (a mouse click at coordinates read before
	// a chart lands can miss it).
	wait("charts after sign-in", count("#metrics .metrics-body path.series-line")+` > 0 && `+count("#metrics .trend-body path.trend-fit")+` === 1`)
	do("delete account", chromedp.Evaluate[chromedp.Void](`document.querySelector('#danger-zone button.delete-account-btn').click()`))
	wait("delete dialog", count("dialog.dialog[open] #dialog-password")+` === 1`)
	do("wrong delete password",
		chromedp.SendKeys(chromedp.CSS("#dialog-password"), "not the password"),
		chromedp.Click(chromedp.CSS("dialog.dialog button.dialog-confirm")))
	wait("delete refused", text("#dialog-error")+`.startsWith('That password is not correct.') && `+
		`document.querySelector('#dialog-password').getAttribute('aria-invalid') === 'true'`)
	if _, err := pg.Authenticate(ctx, testEmail, testPassword); err != nil {
		t.Errorf("the account is gone after a wrong password: %v", err)
	}
	do("right delete password",
		chromedp.SetValue(chromedp.CSS("#dialog-password"), testPassword),
		chromedp.Click(chromedp.CSS("dialog.dialog button.dialog-confirm")))
	wait("deleted", `location.hash === '#/signin' && `+count("dialog.dialog")+` === 0 && `+
		text(".auth .notice")+`.startsWith('Your Pulse account has been deleted')`)
	if _, err := pg.Authenticate(ctx, testEmail, testPassword); pulse.ErrorCode(err) != pulse.EUNAUTHORIZED {
		t.Errorf("sign-in after deletion: %v, want unauthorized", err)
	}
	if got := purged.purged(); !slices.Equal(got, []string{user.ID}) {
		t.Errorf("analytics purged for %q, want %q", got, user.ID)
	}

	// Sign up anew: the form says to check the mail; the mailed link
	// creates the account and opens the dashboard.
	const newEmail = "grace@example.com"
	do("to sign-up", chromedp.Click(chromedp.CSS(".auth-switch a")))
	wait("sign-up form", `location.hash === '#/signup' && !!document.querySelector('#password[autocomplete=new-password]')`)
	do("sign up",
		chromedp.SendKeys(chromedp.CSS("#email"), newEmail),
		chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
		chromedp.Click(chromedp.CSS(".auth-form button[type=submit]")))
	wait("check your mail", text("#check-mail")+` === 'Check your mail' && `+text(".auth .notice")+`.includes('`+newEmail+`')`)
	link := mails.link(newEmail)
	if link == "" {
		t.Fatalf("no sign-up link mailed to %s", newEmail)
	}
	do("open the mailed link", chromedp.Navigate(hs.URL+link))
	wait("signed up", text(".user-email")+` === `+fmt.Sprintf("%q", newEmail)+` && location.hash === '#/'`)
	// No account yet: every panel says to link one.
	wait("no account", text("#metrics")+`.includes('Link an account to start') && `+text("#top")+`.includes('Link an account to start') && `+
		text("#feed")+`.includes('Link an account to start') && `+count("#accounts li.account")+` === 0`)
	screenshot("no-account")

	for _, e := range b.Errors() {
		t.Errorf("browser console: %s", e)
	}
}

// commas formats n as the dashboard does (en-US: 1,404).
func commas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
