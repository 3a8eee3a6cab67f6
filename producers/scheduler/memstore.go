package scheduler

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// MemStore is a Store in memory, for tests and virtual-time simulations of
// millions of links: due times are kept in per-second buckets, so claiming
// and rescheduling cost O(1) per account. It is safe for concurrent use.
type MemStore struct {
	mu    sync.Mutex
	plats map[topics.Platform]*memPlatform
}

type memPlatform struct {
	accts   []memAccount
	byID    map[string]int32
	active  int
	normal  calendar
	urgent  calendar // accounts with a pending refresh request
	scratch []int32  // ClaimDue's claimed accounts, reused
}

type memAccount struct {
	id          string
	links       []DueLink
	inactive    map[string]bool // link id → not active (needs_reauth, revoked)
	next        time.Time
	refreshAt   time.Time
	servedAt    time.Time
	lastFetched time.Time
	posts       pulse.PostsState
	qseq        uint32 // the sequence number of its live calendar entry
	qurgent     bool   // in the urgent calendar
}

func (a *memAccount) pending() bool { return a.refreshAt.After(a.servedAt) }
func (a *memAccount) isActive() bool {
	return len(a.links) > len(a.inactive)
}

// calendar is a queue of accounts by due second: a timing wheel of
// per-second buckets covering wheelSize seconds from cur, and the entries
// due later in far, moved into the wheel as cur comes within reach. An
// account is queued once per change of its due time; only the entry with
// its latest sequence number is live. The buckets keep their capacity, so
// a calendar in steady state allocates nothing.
type calendar struct {
	wheel [][]entry         // by second & wheelMask; nil until first used
	far   map[int64][]entry // entries due at cur+wheelSize or later
	cur   int64             // every second before it is empty; 0: never used
	head  int               // entries of cur's bucket already popped
	n     int               // entries in the wheel
	hi    int64             // the latest second in the wheel (while n > 0)
}

const (
	wheelSize = 1 << 16 // seconds: about 18 hours
	wheelMask = wheelSize - 1
)

type entry struct {
	i   int32
	seq uint32
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{plats: map[topics.Platform]*memPlatform{}} }

func (m *MemStore) plat(p topics.Platform) *memPlatform {
	mp := m.plats[p]
	if mp == nil {
		mp = &memPlatform{byID: map[string]int32{}}
		m.plats[p] = mp
	}
	return mp
}

// AddLink adds an active link of user to platform account accountID, due at
// due (or at the account's due time if it has other links).
func (m *MemStore) AddLink(p topics.Platform, accountID, linkID, userID string, due time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp := m.plat(p)
	i, ok := mp.byID[accountID]
	if !ok {
		i = int32(len(mp.accts))
		mp.accts = append(mp.accts, memAccount{id: accountID, next: due})
		mp.byID[accountID] = i
		mp.active++
		mp.queue(i)
	}
	a := &mp.accts[i]
	a.links = append(a.links, DueLink{LinkID: linkID, UserID: userID})
	a.posts.Cursor = "" // the new link's first fetch is a full read
}

// SetLinkActive marks a link of account accountID active or not (a link
// needing re-authorization is not).
func (m *MemStore) SetLinkActive(p topics.Platform, accountID, linkID string, active bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp := m.plat(p)
	i, ok := mp.byID[accountID]
	if !ok {
		return fmt.Errorf("scheduler: memstore: no account %s/%s", p, accountID)
	}
	a := &mp.accts[i]
	was := a.isActive()
	if active {
		delete(a.inactive, linkID)
	} else {
		if a.inactive == nil {
			a.inactive = map[string]bool{}
		}
		a.inactive[linkID] = true
	}
	if now := a.isActive(); now != was {
		if now {
			mp.active++
			mp.queue(i)
		} else {
			mp.active--
		}
	}
	return nil
}

// RequestRefresh asks for an early fetch of the account, as a refresh
// press on one of its links does: it becomes due at now, ahead of
// accounts that are merely overdue.
func (m *MemStore) RequestRefresh(p topics.Platform, accountID string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp := m.plat(p)
	i, ok := mp.byID[accountID]
	if !ok {
		return fmt.Errorf("scheduler: memstore: no account %s/%s", p, accountID)
	}
	a := &mp.accts[i]
	a.refreshAt = now
	if a.next.After(now) {
		a.next = now
	}
	mp.queue(i)
	return nil
}

// MarkFetched records a fetch of the account, as the fetcher does.
func (m *MemStore) MarkFetched(p topics.Platform, accountID string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp := m.plat(p)
	if i, ok := mp.byID[accountID]; ok && at.After(mp.accts[i].lastFetched) {
		mp.accts[i].lastFetched = at
	}
}

// MarkPostsRead records what a fetch of the account read of its posts,
// as the fetcher does on each link (see postgres.DB.MarkPostsRead; the
// MemStore keeps one state per account).
func (m *MemStore) MarkPostsRead(p topics.Platform, accountID string, r pulse.PostsRead) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp := m.plat(p)
	i, ok := mp.byID[accountID]
	if !ok {
		return
	}
	st := &mp.accts[i].posts
	if r.Cursor != "" {
		st.Cursor = r.Cursor
	}
	if r.Days >= 7 && r.At.After(st.WeekAt) {
		st.WeekAt = r.At
	}
	if r.Days >= topics.RecentDays && r.At.After(st.MonthAt) {
		st.MonthAt = r.At
	}
}

// NextDue returns when the account is due next and whether a refresh
// request of it is pending.
func (m *MemStore) NextDue(p topics.Platform, accountID string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp := m.plat(p)
	i, ok := mp.byID[accountID]
	if !ok {
		return time.Time{}, false
	}
	return mp.accts[i].next, mp.accts[i].pending()
}

// queue puts account i in the calendar its refresh state calls for, at its
// due second.
func (mp *memPlatform) queue(i int32) {
	a := &mp.accts[i]
	a.qurgent = a.pending()
	c := &mp.normal
	if a.qurgent {
		c = &mp.urgent
	}
	a.qseq++
	c.push(a.next.Unix(), entry{i, a.qseq})
}

// push queues e at second sec. An entry due before cur (which is never
// after the last pop's now) is queued at cur when the wheel cannot move
// back that far: it is due at once either way.
func (c *calendar) push(sec int64, e entry) {
	sec = max(sec, 1)
	if c.wheel == nil {
		c.wheel = make([][]entry, wheelSize)
		c.far = map[int64][]entry{}
	}
	switch {
	case c.cur == 0:
		c.cur = sec
	case sec < c.cur:
		if c.n > 0 && c.hi >= sec+wheelSize {
			sec = c.cur
			break
		}
		if c.head > 0 { // the popped entries of cur's bucket go
			b := &c.wheel[c.cur&wheelMask]
			*b = append((*b)[:0], (*b)[c.head:]...)
			c.head = 0
		}
		c.cur = sec
	}
	if sec >= c.cur+wheelSize {
		c.far[sec] = append(c.far[sec], e)
		return
	}
	if c.n == 0 || sec > c.hi {
		c.hi = sec
	}
	c.n++
	c.wheel[sec&wheelMask] = append(c.wheel[sec&wheelMask], e)
}

// advance moves cur one second on, into the wheel's reach of far entries.
func (c *calendar) advance() {
	c.cur++
	if len(c.far) == 0 {
		return
	}
	sec := c.cur + wheelSize - 1
	if es, ok := c.far[sec]; ok {
		delete(c.far, sec)
		c.wheel[sec&wheelMask] = append(c.wheel[sec&wheelMask], es...)
		c.n += len(es)
		c.hi = max(c.hi, sec)
	}
}

// jump moves cur to now when the wheel is empty (or to the first far
// entry, if earlier), moving the far entries it reaches into the wheel.
func (c *calendar) jump(now int64) {
	to := now
	for sec := range c.far {
		to = min(to, sec)
	}
	c.cur, c.head = to, 0
	for sec, es := range c.far {
		if sec < to+wheelSize {
			delete(c.far, sec)
			c.wheel[sec&wheelMask] = append(c.wheel[sec&wheelMask], es...)
			c.n += len(es)
			if c.n == len(es) || sec > c.hi {
				c.hi = sec
			}
		}
	}
}

// pop appends due accounts (bucket second <= now) to out in due order, up
// to limit entries in out, skipping the entries valid says are no longer
// live (rescheduled since). valid must make the entries it accepts dead.
func (c *calendar) pop(now int64, limit int, valid func(e entry) bool, out []int32) []int32 {
	for len(out) < limit && c.cur != 0 && c.cur <= now {
		if c.n == 0 {
			if len(c.far) == 0 {
				c.cur, c.head = now, 0
				break
			}
			c.jump(now)
			if c.n == 0 {
				break
			}
			continue
		}
		b := &c.wheel[c.cur&wheelMask]
		k := c.head
		for k < len(*b) && len(out) < limit {
			if valid((*b)[k]) {
				out = append(out, (*b)[k].i)
			}
			k++
		}
		c.n -= k - c.head
		if k < len(*b) {
			c.head = k
			break
		}
		*b = (*b)[:0]
		c.head = 0
		if c.cur == now {
			break
		}
		c.advance()
	}
	return out
}

// ClaimDue implements Store, at one-second resolution (an account due
// within the current second is due). The returned links are the store's:
// read them only.
func (m *MemStore) ClaimDue(ctx context.Context, p topics.Platform, now time.Time, limit int, lease time.Duration) ([]Due, error) {
	return m.ClaimDueAppend(ctx, p, now, limit, lease, nil)
}

// ClaimDueAppend implements DueAppender: ClaimDue, appending to buf.
func (m *MemStore) ClaimDueAppend(ctx context.Context, p topics.Platform, now time.Time, limit int, lease time.Duration, buf []Due) ([]Due, error) {
	if limit < 1 || lease <= 0 {
		return nil, fmt.Errorf("scheduler: memstore: claim: bad limit %d or lease %v", limit, lease)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mp := m.plat(p)
	sec := now.Unix()
	validIn := func(urgent bool) func(e entry) bool {
		return func(e entry) bool {
			a := &mp.accts[e.i]
			if a.qseq != e.seq || a.qurgent != urgent || !a.isActive() {
				return false
			}
			a.qseq++ // claimed: requeued below
			return true
		}
	}
	idx := mp.urgent.pop(sec, limit, validIn(true), mp.scratch[:0])
	idx = mp.normal.pop(sec, limit, validIn(false), idx)
	mp.scratch = idx
	out := buf
	for _, i := range idx {
		a := &mp.accts[i]
		d := Due{AccountID: a.id, DueAt: a.next, Links: a.links, Key: int64(i) + 1, Posts: a.posts}
		if a.pending() {
			d.RefreshAt = a.refreshAt
		}
		if len(a.inactive) > 0 {
			d.Links = nil
			for _, l := range a.links {
				if !a.inactive[l.LinkID] {
					d.Links = append(d.Links, l)
				}
			}
		}
		for k := range d.Links {
			d.Links[k].LastFetchedAt = a.lastFetched
		}
		out = append(out, d)
		a.next = now.Add(lease)
		mp.queue(i)
	}
	return out, nil
}

// Reschedule implements Store.
func (m *MemStore) Reschedule(ctx context.Context, p topics.Platform, next []Next) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp := m.plat(p)
	for _, n := range next {
		i, ok := int32(n.Key-1), n.Key > 0 && n.Key <= int64(len(mp.accts))
		if !ok || mp.accts[i].id != n.AccountID { // no key, or another store's
			if i, ok = mp.byID[n.AccountID]; !ok {
				continue
			}
		}
		a := &mp.accts[i]
		a.next = n.At
		if !n.Claimed.IsZero() && a.refreshAt.After(n.Claimed) && a.refreshAt.Before(a.next) {
			a.next = a.refreshAt
		}
		if n.Served.After(a.servedAt) {
			a.servedAt = n.Served
		}
		mp.queue(i)
	}
	return nil
}

// CountAccounts implements Store.
func (m *MemStore) CountAccounts(ctx context.Context, p topics.Platform) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.plat(p).active, nil
}
