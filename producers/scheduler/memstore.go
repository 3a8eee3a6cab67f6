package scheduler

import (
	"cmp"
	"context"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// MemStore is a Store in memory, for tests and virtual-time simulations of
// millions of links: due times are kept in per-second buckets, so claiming
// and rescheduling cost O(1) per account. It is safe for concurrent use.
//
// A claim's lease is kept in a list in claim order rather than queued:
// Reschedule usually follows at once, so the list empties and a claim
// costs no calendar entry; an account still claimed when its lease ends
// is queued then, due at once.
type MemStore struct {
	mu    sync.Mutex
	plats map[topics.Platform]*memPlatform
}

type memPlatform struct {
	accts    []memAccount
	byID     map[string]int32
	active   int
	normal   calendar
	urgent   calendar // accounts with a pending refresh request
	leases   []leased // claims in claim order; those still claimed are queued when they end
	nclaimed int      // accounts claimed and not queued since
	scratch  []int32  // ClaimDue's claimed accounts, reused
	// posts are where each account's posts reads stand (MarkPostsRead),
	// by account; none past its end: kept apart, as most simulations
	// read no posts state.
	posts []pulse.PostsState
}

// leased is a claim of account i, its entry seq, ending at until (Unix ns).
type leased struct {
	i     int32
	seq   uint32
	until int64
}

// memAccount is one platform account. Times are Unix ns, 0 for none.
type memAccount struct {
	next        int64
	refreshAt   int64
	servedAt    int64
	lastFetched int64
	qseq        uint32 // the sequence number of its live calendar entry or lease
	qurgent     bool   // in the urgent calendar
	claimed     bool   // leased, not queued since
	id          string
	links       []DueLink
	inactive    map[string]bool // link id → not active (needs_reauth, revoked)
}

// unixNS is t in Unix ns, 0 for the zero Time.
func unixNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNS is unixNS's inverse.
func fromNS(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func (a *memAccount) pending() bool { return a.refreshAt > a.servedAt }
func (a *memAccount) isActive() bool {
	return len(a.links) > len(a.inactive)
}

// calendar is a queue of accounts by due second: a timing wheel of
// per-second buckets covering wheelSize seconds from cur, and the entries
// due later in far, moved into the wheel as cur comes within reach. An
// account is queued once per change of its due time; only the entry with
// its latest sequence number is live. The buckets keep their capacity, so
// a calendar in steady state allocates nothing, and a bitmap of the
// occupied buckets lets pop step over empty seconds a word (64 seconds)
// at a time: a calendar that moved back hours (an overdue account's
// refresh press) catches up without visiting every second.
type calendar struct {
	wheel  [][]entry         // by second & wheelMask; nil until first used
	occ    []uint64          // bit s&wheelMask: the bucket of second s is not empty
	far    map[int64][]entry // entries due at cur+wheelSize or later
	early  []timed           // entries due before cur that the wheel cannot reach back to, by second
	farMin int64             // the earliest second in far (while far is not empty)
	cur    int64             // every second before it is empty; 0: never used
	head   int               // entries of cur's bucket already popped
	n      int               // entries in the wheel
	hi     int64             // the latest second in the wheel (while n > 0)
}

const (
	wheelSize = 1 << 16 // seconds: about 18 hours
	wheelMask = wheelSize - 1
)

type entry struct {
	i   int32
	seq uint32
}

type timed struct {
	sec int64
	e   entry
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
		mp.accts = append(mp.accts, memAccount{id: accountID, next: unixNS(due)})
		mp.byID[accountID] = i
		mp.active++
		mp.queue(i)
	}
	a := &mp.accts[i]
	a.links = append(a.links, DueLink{LinkID: linkID, UserID: userID, LastFetchedAt: fromNS(a.lastFetched)})
	if int(i) < len(mp.posts) {
		mp.posts[i].Cursor = "" // the new link's first fetch is a full read
	}
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
	a.refreshAt = unixNS(now)
	a.next = min(a.next, a.refreshAt)
	mp.queue(i)
	return nil
}

// MarkFetched records a fetch of the account, as the fetcher does.
func (m *MemStore) MarkFetched(p topics.Platform, accountID string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp := m.plat(p)
	if i, ok := mp.byID[accountID]; ok && unixNS(at) > mp.accts[i].lastFetched {
		a := &mp.accts[i]
		a.lastFetched = unixNS(at)
		for k := range a.links {
			a.links[k].LastFetchedAt = at
		}
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
	if int(i) >= len(mp.posts) {
		mp.posts = append(mp.posts, make([]pulse.PostsState, len(mp.accts)-len(mp.posts))...)
	}
	st := &mp.posts[i]
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
	return fromNS(mp.accts[i].next), mp.accts[i].pending()
}

// queue puts account i in the calendar its refresh state calls for, at its
// due second.
func (mp *memPlatform) queue(i int32) {
	a := &mp.accts[i]
	if a.claimed {
		a.claimed = false
		mp.nclaimed--
	}
	a.qurgent = a.pending()
	c := &mp.normal
	if a.qurgent {
		c = &mp.urgent
	}
	a.qseq++
	c.push(floorDiv(a.next, int64(time.Second)), entry{i, a.qseq})
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// push queues e at second sec. An entry due so long before cur that the
// wheel cannot move back to it (its entries would not all be in reach) is
// kept aside in early, which pop drains first.
func (c *calendar) push(sec int64, e entry) {
	sec = max(sec, 1)
	if c.wheel == nil {
		c.wheel = make([][]entry, wheelSize)
		c.occ = make([]uint64, wheelSize/64)
		c.far = map[int64][]entry{}
	}
	switch {
	case c.cur == 0:
		c.cur = sec
	case sec < c.cur:
		if c.n > 0 && c.hi >= sec+wheelSize {
			at, _ := slices.BinarySearchFunc(c.early, sec+1, func(x timed, s int64) int { return cmp.Compare(x.sec, s) })
			c.early = slices.Insert(c.early, at, timed{sec, e})
			return
		}
		if c.head > 0 { // the popped entries of cur's bucket go
			b := &c.wheel[c.cur&wheelMask]
			*b = append((*b)[:0], (*b)[c.head:]...)
			c.head = 0
			if len(*b) == 0 {
				c.clearBit(c.cur)
			}
		}
		c.cur = sec
	}
	if sec >= c.cur+wheelSize {
		if len(c.far) == 0 || sec < c.farMin {
			c.farMin = sec
		}
		c.far[sec] = append(c.far[sec], e)
		return
	}
	c.add(sec, e)
}

// add appends es to the wheel's bucket of sec, which must be in reach.
func (c *calendar) add(sec int64, es ...entry) {
	if c.n == 0 || sec > c.hi {
		c.hi = sec
	}
	c.n += len(es)
	b := &c.wheel[sec&wheelMask]
	if cap(*b) == 0 { // as large as the second before's: seconds hold alike
		*b = make([]entry, 0, max(8, len(es), cap(c.wheel[(sec-1)&wheelMask])))
	}
	*b = append(*b, es...)
	c.occ[sec&wheelMask>>6] |= 1 << (sec & 63)
}

func (c *calendar) clearBit(sec int64) { c.occ[sec&wheelMask>>6] &^= 1 << (sec & 63) }

// nextOccupied returns the first second in [from, to] whose bucket is not
// empty, or to+1 if none is; to-from must be less than wheelSize.
func (c *calendar) nextOccupied(from, to int64) int64 {
	for sec := from; sec <= to; {
		w := c.occ[sec&wheelMask>>6] >> (sec & 63)
		if w != 0 {
			if at := sec + int64(bits.TrailingZeros64(w)); at <= to {
				return at
			}
			return to + 1
		}
		sec += 64 - sec&63 // the next word
	}
	return to + 1
}

// moveTo moves cur on to sec (after cur; every second between is empty),
// moving the far entries it brings within reach into the wheel.
func (c *calendar) moveTo(sec int64) {
	c.cur, c.head = sec, 0
	if len(c.far) == 0 || c.farMin >= sec+wheelSize {
		return
	}
	c.farMin = 0
	for s, es := range c.far {
		switch {
		case s < sec+wheelSize:
			delete(c.far, s)
			c.add(s, es...)
		case c.farMin == 0 || s < c.farMin:
			c.farMin = s
		}
	}
}

// jump moves cur to now when the wheel is empty (or to the first far
// entry, if earlier), moving the far entries it reaches into the wheel.
func (c *calendar) jump(now int64) {
	to := now
	for sec := range c.far {
		to = min(to, sec)
	}
	c.moveTo(to)
}

// pop appends due accounts (bucket second <= now) to out in due order, up
// to limit entries in out, skipping the entries valid says are no longer
// live (rescheduled since). valid must make the entries it accepts dead.
func (c *calendar) pop(now int64, limit int, valid func(e entry) bool, out []int32) []int32 {
	for len(c.early) > 0 && len(out) < limit && c.early[0].sec <= now {
		if valid(c.early[0].e) {
			out = append(out, c.early[0].e.i)
		}
		c.early = c.early[1:]
	}
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
		c.clearBit(c.cur)
		if c.cur == now {
			break
		}
		// On to the next occupied second (the wheel's entries are all
		// before cur+wheelSize), or to now if none is due.
		c.moveTo(min(c.nextOccupied(c.cur+1, min(now, c.cur+wheelSize-1)), now))
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
	sec, ns := now.Unix(), now.UnixNano()
	mp.expire(ns)
	validIn := func(urgent bool) func(e entry) bool {
		return func(e entry) bool {
			a := &mp.accts[e.i]
			if a.qseq != e.seq || a.qurgent != urgent || !a.isActive() {
				return false
			}
			a.qseq++ // claimed: leased below
			return true
		}
	}
	idx := mp.urgent.pop(sec, limit, validIn(true), mp.scratch[:0])
	idx = mp.normal.pop(sec, limit, validIn(false), idx)
	mp.scratch = idx
	out := buf
	for _, i := range idx {
		a := &mp.accts[i]
		d := Due{AccountID: a.id, DueAt: fromNS(a.next), Links: a.links, Key: int64(i) + 1}
		if int(i) < len(mp.posts) {
			d.Posts = mp.posts[i]
		}
		if a.pending() {
			d.RefreshAt = fromNS(a.refreshAt)
		}
		if len(a.inactive) > 0 {
			d.Links = nil
			for _, l := range a.links {
				if !a.inactive[l.LinkID] {
					d.Links = append(d.Links, l)
				}
			}
		}
		out = append(out, d)
		a.next = ns + int64(lease)
		a.claimed = true
		mp.nclaimed++
		mp.leases = append(mp.leases, leased{i, a.qseq, a.next})
	}
	return out, nil
}

// expire queues the accounts whose lease ended by now (ns) unrescheduled,
// due at once, and empties the lease list once no account is claimed.
func (mp *memPlatform) expire(now int64) {
	k := 0
	for ; k < len(mp.leases) && mp.leases[k].until <= now; k++ {
		l := mp.leases[k]
		if a := &mp.accts[l.i]; a.claimed && a.qseq == l.seq {
			mp.queue(l.i) // due at the lease's end
		}
	}
	if mp.nclaimed == 0 {
		mp.leases = mp.leases[:0]
	} else if k > 0 {
		mp.leases = append(mp.leases[:0], mp.leases[k:]...)
	}
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
		a.next = unixNS(n.At)
		if claimed := unixNS(n.Claimed); claimed != 0 && a.refreshAt > claimed && a.refreshAt < a.next {
			a.next = a.refreshAt
		}
		a.servedAt = max(a.servedAt, unixNS(n.Served))
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
