package scheduler

import (
	"context"
	"fmt"
	"sync"
	"time"

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
	accts  []memAccount
	byID   map[string]int32
	active int
	normal calendar
	urgent calendar // accounts with a pending refresh request
}

type memAccount struct {
	id          string
	links       []DueLink
	inactive    map[string]bool // link id → not active (needs_reauth, revoked)
	next        time.Time
	refreshAt   time.Time
	servedAt    time.Time
	lastFetched time.Time
	qseq        uint32 // the sequence number of its live calendar entry
	qurgent     bool   // in the urgent calendar
}

func (a *memAccount) pending() bool { return a.refreshAt.After(a.servedAt) }
func (a *memAccount) isActive() bool {
	return len(a.links) > len(a.inactive)
}

// calendar is a queue of accounts by due second. An account is queued
// once per change of its due time; only the entry with its latest sequence
// number is live.
type calendar struct {
	b   map[int64][]entry
	cur int64 // every bucket before it is empty
}

type entry struct {
	i   int32
	seq uint32
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{plats: map[topics.Platform]*memPlatform{}} }

func (m *MemStore) plat(p topics.Platform) *memPlatform {
	mp := m.plats[p]
	if mp == nil {
		mp = &memPlatform{byID: map[string]int32{}, normal: calendar{b: map[int64][]entry{}}, urgent: calendar{b: map[int64][]entry{}}}
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

func (c *calendar) push(sec int64, e entry) {
	sec = max(sec, 1)
	if c.cur == 0 || sec < c.cur {
		c.cur = sec
	}
	c.b[sec] = append(c.b[sec], e)
}

// pop appends due accounts (bucket second <= now) to out in due order, up
// to limit entries in out, skipping the entries valid says are no longer
// live (rescheduled since). valid must make the entries it accepts dead.
func (c *calendar) pop(now int64, limit int, valid func(e entry) bool, out []int32) []int32 {
	for len(out) < limit && c.cur != 0 && c.cur <= now {
		if len(c.b) == 0 {
			c.cur = now
			break
		}
		bucket := c.b[c.cur]
		k := 0
		for k < len(bucket) && len(out) < limit {
			if valid(bucket[k]) {
				out = append(out, bucket[k].i)
			}
			k++
		}
		if k < len(bucket) {
			c.b[c.cur] = bucket[k:]
			break
		}
		delete(c.b, c.cur)
		if c.cur == now {
			break
		}
		c.cur++
	}
	return out
}

// ClaimDue implements Store, at one-second resolution (an account due
// within the current second is due). The returned links are the store's:
// read them only.
func (m *MemStore) ClaimDue(ctx context.Context, p topics.Platform, now time.Time, limit int, lease time.Duration) ([]Due, error) {
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
	idx := mp.urgent.pop(sec, limit, validIn(true), nil)
	idx = mp.normal.pop(sec, limit, validIn(false), idx)
	out := make([]Due, 0, len(idx))
	for _, i := range idx {
		a := &mp.accts[i]
		d := Due{AccountID: a.id, DueAt: a.next, Links: a.links}
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
		i, ok := mp.byID[n.AccountID]
		if !ok {
			continue
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
