package sim

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LinkedIn's versioned REST API (https://api.linkedin.com/rest/…), the
// endpoints an organization-page analytics app reads:
//
//	GET /rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED
//	GET /rest/organizations/{id}
//	GET /rest/networkSizes/{organization URN}?edgeType=COMPANY_FOLLOWED_BY_MEMBER
//	GET /rest/posts?q=author&author={organization URN}&count=&start=&sortBy=
//	GET /rest/organizationalEntityShareStatistics?q=organizationalEntity
//	    &organizationalEntity={organization URN}&shares=List(…)&ugcPosts=List(…)
//
// Every call must carry a LinkedIn-Version header naming a live version
// (else HTTP 426); list parameters use Rest.li 2.0 syntax, List(a,b), with
// X-Restli-Protocol-Version: 2.0.0.

const (
	// linkedinDefaultCount and linkedinMaxCount bound a collection page.
	linkedinDefaultCount = 10
	linkedinMaxCount     = 100
	// linkedinMaxStatsURNs bounds the posts of one share statistics call.
	linkedinMaxStatsURNs = 100
	// linkedinSunsetDay is the day of the month, a year after its
	// release, on which the simulator sunsets a version (LinkedIn sunsets
	// a version about a year after its release, mid-month).
	linkedinSunsetDay = 16
)

// linkedinVersionLive reports whether LinkedIn-Version v ("YYYYMM", or
// "YYYYMM.RR" for a revision) is live at now: released (its month has
// begun) and not yet sunset.
func linkedinVersionLive(v string, now time.Time) bool {
	base, rev, hasRev := strings.Cut(v, ".")
	if len(base) != 6 || !numeric(base) || hasRev && (len(rev) != 2 || !numeric(rev)) {
		return false
	}
	year, _ := strconv.Atoi(base[:4])
	month, _ := strconv.Atoi(base[4:])
	if month < 1 || month > 12 || year < 2022 {
		return false
	}
	released := time.Date(year, time.Month(month), 1, 0, 0, 0, 0, time.UTC)
	sunset := time.Date(year+1, time.Month(month), linkedinSunsetDay, 0, 0, 0, 0, time.UTC)
	return !now.Before(released) && now.Before(sunset)
}

// rest wraps a REST handler with the version check every call gets.
func (l *linkedinSim) rest(h apiHandler) apiHandler {
	return func(c *apiCall) (int, any) {
		v := strings.TrimSpace(c.r.Header.Get("LinkedIn-Version"))
		if v == "" {
			return linkedinFail(http.StatusUpgradeRequired, 0, "VERSION_MISSING",
				"A version must be present. Please specify a version by adding the LinkedIn-Version header.")
		}
		if !linkedinVersionLive(v, c.now) {
			return linkedinFail(http.StatusUpgradeRequired, 0, "NONEXISTENT_VERSION", "Requested version "+v+" is not active")
		}
		return h(c)
	}
}

// hasAnyScope reports whether g has at least one of the scopes.
func (g *grant) hasAnyScope(scopes ...string) bool {
	for _, s := range scopes {
		if g.hasScope(s) {
			return true
		}
	}
	return false
}

// linkedinPaging is a collection's paging object.
type linkedinPaging struct {
	Start int            `json:"start"`
	Count int            `json:"count"`
	Links []linkedinLink `json:"links"`
	Total *int           `json:"total,omitempty"`
}

type linkedinLink struct {
	Type string `json:"type"`
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

// linkedinCollection is a collection response.
type linkedinCollection struct {
	Paging   linkedinPaging `json:"paging"`
	Elements []any          `json:"elements"`
}

// pageParams parses a collection's start and count (count 1 to
// linkedinMaxCount, default linkedinDefaultCount).
func pageParams(q url.Values) (start, count int, status int, body any) {
	count = linkedinDefaultCount
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > linkedinMaxCount {
			status, body = linkedinInvalid("Invalid value for parameter count: " + v)
			return 0, 0, status, body
		}
		count = n
	}
	if v := q.Get("start"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			status, body = linkedinInvalid("Invalid value for parameter start: " + v)
			return 0, 0, status, body
		}
		start = n
	}
	return start, count, 0, nil
}

// finder checks a finder's q parameter.
func finder(q url.Values, name string) (int, any, bool) {
	if got := q.Get("q"); got != name {
		st, b := linkedinFail(http.StatusBadRequest, 0, "QUERY_PARAM_NOT_ALLOWED", "Query parameter q must be "+name)
		return st, b, false
	}
	return 0, nil, true
}

type linkedinACL struct {
	RoleAssignee string `json:"roleAssignee"`
	State        string `json:"state"`
	Role         string `json:"role"`
	Organization string `json:"organization"`
}

// organizationAcls serves the roleAssignee finder: the token's member's
// roles, here ADMINISTRATOR (APPROVED) of its organization, filtered by
// role and state. It needs one of the organization permissions.
func (l *linkedinSim) organizationAcls(c *apiCall) (int, any) {
	q := c.r.URL.Query()
	if st, b, ok := finder(q, "roleAssignee"); !ok {
		return st, b
	}
	if !c.grant.hasAnyScope("rw_organization_admin", "r_organization_admin", "r_organization_social", "w_organization_social") {
		return linkedinForbidden("organizationAcls.FINDER-roleAssignee")
	}
	start, count, st, b := pageParams(q)
	if b != nil {
		return st, b
	}
	elements := []any{}
	role, state := q.Get("role"), q.Get("state")
	if start == 0 && (role == "" || role == "ADMINISTRATOR") && (state == "" || state == "APPROVED") {
		// Every organization the grant covers (IssueGrant: a member who
		// administers several pages), in order.
		for _, id := range c.grant.accounts() {
			a := l.state().byID[id]
			elements = append(elements, linkedinACL{RoleAssignee: memberURN(c.acct), State: "APPROVED", Role: "ADMINISTRATOR", Organization: orgURN(a)})
		}
	}
	total := len(elements)
	return http.StatusOK, linkedinCollection{Paging: linkedinPaging{Start: start, Count: count, Links: []linkedinLink{}, Total: &total}, Elements: elements}
}

type linkedinOrganization struct {
	ID                      int64             `json:"id"`
	URN                     string            `json:"$URN"`
	VanityName              string            `json:"vanityName"`
	LocalizedName           string            `json:"localizedName"`
	Name                    linkedinLocalized `json:"name"`
	LocalizedWebsite        string            `json:"localizedWebsite"`
	PrimaryOrganizationType string            `json:"primaryOrganizationType"`
	OrganizationType        string            `json:"organizationType"`
	LocalizedDescription    string            `json:"localizedDescription"`
	VersionTag              string            `json:"versionTag"`
}

type linkedinLocalized struct {
	Localized       map[string]string `json:"localized"`
	PreferredLocale struct {
		Country  string `json:"country"`
		Language string `json:"language"`
	} `json:"preferredLocale"`
}

// organization serves GET /rest/organizations/{id}: the organization the
// token's member administers (with rw_organization_admin or
// r_organization_admin); another organization is 403, an unknown one 404.
func (l *linkedinSim) organization(c *apiCall) (int, any) {
	id := c.r.PathValue("id")
	if !numeric(id) {
		return linkedinInvalid("Syntax exception in path variables")
	}
	if !c.grant.covers(id) {
		if _, ok := l.state().byID[id]; !ok {
			return linkedinFail(http.StatusNotFound, 0, "NOT_FOUND", "Organization "+id+" not found")
		}
		return linkedinForbidden("organizations.GET")
	}
	c.acct = l.state().byID[id]
	if !c.grant.hasAnyScope("rw_organization_admin", "r_organization_admin") {
		return linkedinForbidden("organizations.GET")
	}
	a := c.acct
	n, _ := strconv.ParseInt(a.ID, 10, 64)
	org := linkedinOrganization{
		ID:                      n,
		URN:                     orgURN(a),
		VanityName:              a.Handle,
		LocalizedName:           a.Name,
		LocalizedWebsite:        "https://" + a.Handle + ".example.com",
		PrimaryOrganizationType: "NONE",
		OrganizationType:        "PRIVATELY_HELD",
		LocalizedDescription:    "Synthetic organization for the Pulse simulator.",
		VersionTag:              strconv.FormatUint(hash(a.key, strHash("versionTag"))%1000000000, 10),
	}
	org.Name.Localized = map[string]string{"en_US": a.Name}
	org.Name.PreferredLocale.Country, org.Name.PreferredLocale.Language = "US", "en"
	return http.StatusOK, org
}

// networkSizes serves GET /rest/networkSizes/{organization URN} with
// edgeType=COMPANY_FOLLOWED_BY_MEMBER: the organization's follower count,
// {"firstDegreeSize": n}. It needs r_organization_followers (or
// rw_organization_admin).
func (l *linkedinSim) networkSizes(c *apiCall) (int, any) {
	urn := c.r.PathValue("urn")
	if !strings.HasPrefix(urn, linkedinOrgURNPrefix) || !numeric(strings.TrimPrefix(urn, linkedinOrgURNPrefix)) {
		return linkedinInvalid("Syntax exception in path variables")
	}
	if et := c.r.URL.Query().Get("edgeType"); et != "COMPANY_FOLLOWED_BY_MEMBER" {
		return linkedinInvalid("Invalid value for parameter edgeType: " + et)
	}
	if !l.useOrg(c, urn) || !c.grant.hasAnyScope("r_organization_followers", "rw_organization_admin") {
		return linkedinForbidden("networkSizes.GET")
	}
	return http.StatusOK, map[string]int64{"firstDegreeSize": c.acct.followers(c.now)}
}

type linkedinPost struct {
	ID                        string                `json:"id"`
	Author                    string                `json:"author"`
	Commentary                string                `json:"commentary,omitempty"`
	Content                   *linkedinPostContent  `json:"content,omitempty"`
	Visibility                string                `json:"visibility"`
	Distribution              linkedinDistribution  `json:"distribution"`
	LifecycleState            string                `json:"lifecycleState"`
	LifecycleStateInfo        linkedinLifecycleInfo `json:"lifecycleStateInfo"`
	IsReshareDisabledByAuthor bool                  `json:"isReshareDisabledByAuthor"`
	CreatedAt                 int64                 `json:"createdAt"`
	PublishedAt               int64                 `json:"publishedAt"`
	LastModifiedAt            int64                 `json:"lastModifiedAt"`
}

type linkedinLifecycleInfo struct {
	IsEditedByAuthor bool `json:"isEditedByAuthor"`
}

type linkedinDistribution struct {
	FeedDistribution               string     `json:"feedDistribution"`
	TargetEntities                 []struct{} `json:"targetEntities"`
	ThirdPartyDistributionChannels []string   `json:"thirdPartyDistributionChannels"`
}

type linkedinPostContent struct {
	Media struct {
		ID      string `json:"id"`
		AltText string `json:"altText,omitempty"`
	} `json:"media"`
}

// posts serves the author finder: the organization's posts (with
// r_organization_social), newest first by creation (sortBy CREATED, or the
// default LAST_MODIFIED: the synthetic posts are never edited), count per
// page from start. paging.links has the next page's link while more posts
// follow (and the previous one's after the first page); paging.total is
// not reported, as on LinkedIn.
func (l *linkedinSim) posts(c *apiCall) (int, any) {
	q := c.r.URL.Query()
	if st, b, ok := finder(q, "author"); !ok {
		return st, b
	}
	author := q.Get("author")
	if !strings.HasPrefix(author, "urn:li:") {
		return linkedinInvalid("Invalid value for parameter author: " + author)
	}
	if !l.useOrg(c, author) || !c.grant.hasScope("r_organization_social") {
		return linkedinForbidden("posts.FINDER-author")
	}
	switch sb := q.Get("sortBy"); sb {
	case "", "LAST_MODIFIED", "CREATED":
	default:
		return linkedinInvalid("Invalid value for parameter sortBy: " + sb)
	}
	start, count, st, b := pageParams(q)
	if b != nil {
		return st, b
	}
	ps, a := l.state(), c.acct
	last, first := a.lastSlot(c.now), a.firstServed(c.now)
	elements := []any{}
	k := last - int64(start)
	for ; k >= first && len(elements) < count; k-- {
		p := ps.post(a, k, c.now)
		ms := p.CreatedAt.UnixMilli()
		out := linkedinPost{
			ID:             p.ID,
			Author:         orgURN(a),
			Commentary:     littleText(p.Text),
			Visibility:     "PUBLIC",
			Distribution:   linkedinDistribution{FeedDistribution: "MAIN_FEED", TargetEntities: []struct{}{}, ThirdPartyDistributionChannels: []string{}},
			LifecycleState: "PUBLISHED",
			CreatedAt:      ms,
			PublishedAt:    ms,
			LastModifiedAt: ms,
		}
		if p.Text == "" {
			out.Content = &linkedinPostContent{}
			out.Content.Media.ID = "urn:li:image:C4D22AQ" + strconv.FormatUint(hash(a.key, tagPostID, uint64(k), 3)%1e12, 36)
		}
		elements = append(elements, out)
	}
	paging := linkedinPaging{Start: start, Count: count, Links: []linkedinLink{}}
	link := func(rel string, at int) {
		lq := url.Values{}
		for key, v := range q {
			lq[key] = v
		}
		lq.Set("start", strconv.Itoa(at))
		lq.Set("count", strconv.Itoa(count))
		paging.Links = append(paging.Links, linkedinLink{Type: "application/json", Rel: rel, Href: "/rest/posts?" + lq.Encode()})
	}
	if start > 0 {
		link("prev", max(0, start-count))
	}
	if k >= first {
		link("next", start+count)
	}
	return http.StatusOK, linkedinCollection{Paging: paging, Elements: elements}
}

type linkedinShareStatistics struct {
	UniqueImpressionsCount int64   `json:"uniqueImpressionsCount"`
	ShareCount             int64   `json:"shareCount"`
	Engagement             float64 `json:"engagement"`
	ClickCount             int64   `json:"clickCount"`
	LikeCount              int64   `json:"likeCount"`
	ImpressionCount        int64   `json:"impressionCount"`
	CommentCount           int64   `json:"commentCount"`
}

type linkedinShareStatisticsElement struct {
	OrganizationalEntity string                  `json:"organizationalEntity"`
	Share                string                  `json:"share,omitempty"`
	UGCPost              string                  `json:"ugcPost,omitempty"`
	TotalShareStatistics linkedinShareStatistics `json:"totalShareStatistics"`
}

// statistics are post p's lifetime statistics.
func statistics(p Post) linkedinShareStatistics {
	st := linkedinShareStatistics{
		UniqueImpressionsCount: p.Impressions * 7 / 10,
		ShareCount:             p.Reposts,
		ClickCount:             p.Bookmarks * 3,
		LikeCount:              p.Likes,
		ImpressionCount:        p.Impressions,
		CommentCount:           p.Replies,
	}
	if p.Impressions > 0 {
		st.Engagement = float64(st.LikeCount+st.CommentCount+st.ShareCount+st.ClickCount) / float64(p.Impressions)
	}
	return st
}

func (s *linkedinShareStatistics) add(o linkedinShareStatistics) {
	s.UniqueImpressionsCount += o.UniqueImpressionsCount
	s.ShareCount += o.ShareCount
	s.ClickCount += o.ClickCount
	s.LikeCount += o.LikeCount
	s.ImpressionCount += o.ImpressionCount
	s.CommentCount += o.CommentCount
	if s.ImpressionCount > 0 {
		s.Engagement = float64(s.LikeCount+s.CommentCount+s.ShareCount+s.ClickCount) / float64(s.ImpressionCount)
	}
}

// shareStatistics serves the organizationalEntity finder of
// organizationalEntityShareStatistics (with rw_organization_admin or
// r_organization_admin): lifetime statistics of the posts listed in shares
// and ugcPosts (Rest.li 2.0 lists of URNs, at most linkedinMaxStatsURNs in
// all, in the request's order), or without them one element with the
// organization's totals. A post of another organization is 403, as on
// LinkedIn; time-bound statistics (timeIntervals) are not simulated.
func (l *linkedinSim) shareStatistics(c *apiCall) (int, any) {
	q := c.r.URL.Query()
	if st, b, ok := finder(q, "organizationalEntity"); !ok {
		return st, b
	}
	if !l.useOrg(c, q.Get("organizationalEntity")) || !c.grant.hasAnyScope("rw_organization_admin", "r_organization_admin") {
		return linkedinForbidden("organizationalEntityShareStatistics.FINDER-organizationalEntity")
	}
	a := c.acct
	if q.Has("timeIntervals") || q.Has("timeIntervals.timeGranularityType") {
		return linkedinInvalid("Time-bound share statistics are not simulated")
	}
	type entity struct {
		kind, urn string
		index     int // in its list
	}
	var urns []entity
	for _, param := range []string{"shares", "ugcPosts"} {
		v := q.Get(param)
		if v == "" {
			continue
		}
		if c.r.Header.Get("X-Restli-Protocol-Version") != "2.0.0" {
			return linkedinInvalid("Invalid value for parameter " + param + ": Rest.li 2.0.0 list syntax requires the X-Restli-Protocol-Version: 2.0.0 header")
		}
		items, ok := restliList(v)
		if !ok {
			return linkedinInvalid("Invalid value for parameter " + param + ": " + v)
		}
		want := strings.TrimSuffix(param, "s") // share, ugcPost
		for i, u := range items {
			if kind, _, ok := splitPostURN(u); !ok || kind != want {
				return linkedinInvalid("Invalid value for parameter " + param + ": " + u)
			}
			urns = append(urns, entity{want, u, i})
		}
	}
	if len(urns) > linkedinMaxStatsURNs {
		return linkedinInvalid("Too many entities: at most " + strconv.Itoa(linkedinMaxStatsURNs) + " shares and ugcPosts per request")
	}
	ps := l.state()
	elements := []any{}
	if len(urns) == 0 {
		total := linkedinShareStatisticsElement{OrganizationalEntity: orgURN(a)}
		for k, first := a.lastSlot(c.now), a.firstServed(c.now); k >= first; k-- {
			total.TotalShareStatistics.add(statistics(ps.post(a, k, c.now)))
		}
		elements = append(elements, total)
	}
	for _, u := range urns {
		k, ok := l.postNumber(a, u.urn, c.now)
		if !ok {
			return linkedinFail(http.StatusForbidden, 100, "ACCESS_DENIED",
				"Unpermitted fields present in PARAMETER: Data Processing Exception while processing fields [/"+u.kind+"s["+strconv.Itoa(u.index)+"]]")
		}
		e := linkedinShareStatisticsElement{OrganizationalEntity: orgURN(a), TotalShareStatistics: statistics(ps.post(a, k, c.now))}
		if u.kind == "share" {
			e.Share = u.urn
		} else {
			e.UGCPost = u.urn
		}
		elements = append(elements, e)
	}
	return http.StatusOK, linkedinCollection{
		Paging:   linkedinPaging{Start: 0, Count: len(elements), Links: []linkedinLink{}},
		Elements: elements,
	}
}

// restliList parses a Rest.li 2.0 list, "List(a,b,c)", whose items are
// already URL-decoded.
func restliList(v string) ([]string, bool) {
	inner, ok := strings.CutPrefix(v, "List(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return nil, false
	}
	inner = strings.TrimSuffix(inner, ")")
	if inner == "" {
		return nil, true
	}
	items := strings.Split(inner, ",")
	for _, it := range items {
		if it == "" {
			return nil, false
		}
	}
	return items, true
}

// useOrg makes organization urn the call's account if the grant covers it.
func (l *linkedinSim) useOrg(c *apiCall, urn string) bool {
	id, ok := strings.CutPrefix(urn, linkedinOrgURNPrefix)
	if !ok || !c.grant.covers(id) {
		return false
	}
	c.acct = l.state().byID[id]
	return c.acct != nil
}

type linkedinFollowerStat struct {
	OrganizationalEntity string `json:"organizationalEntity"`
	TimeRange            struct {
		Start int64 `json:"start"`
		End   int64 `json:"end"`
	} `json:"timeRange"`
	FollowerGains struct {
		OrganicFollowerGain int64 `json:"organicFollowerGain"`
		PaidFollowerGain    int64 `json:"paidFollowerGain"`
	} `json:"followerGains"`
}

// LinkedInMaxStatisticsDays bounds the time range of a time-bound
// follower statistics call.
const LinkedInMaxStatisticsDays = 366

// followerStatistics serves the organizationalEntity finder of
// organizationalEntityFollowerStatistics (with rw_organization_admin or
// r_organization_admin) with time-bound statistics:
// timeIntervals=(timeRange:(start:MS,end:MS),timeGranularityType:DAY)
// gives one element per UTC day from start's day to end, each with the
// day's follower gain (the current day's so far). The simulator reports a
// day's net change as its organic gain (negative on a day of more
// unfollows) and no paid gain. Without timeIntervals, the lifetime
// demographics LinkedIn serves are not simulated (400).
func (l *linkedinSim) followerStatistics(c *apiCall) (int, any) {
	q := c.r.URL.Query()
	if st, b, ok := finder(q, "organizationalEntity"); !ok {
		return st, b
	}
	if !l.useOrg(c, q.Get("organizationalEntity")) || !c.grant.hasAnyScope("rw_organization_admin", "r_organization_admin") {
		return linkedinForbidden("organizationalEntityFollowerStatistics.FINDER-organizationalEntity")
	}
	start, end, ok := parseTimeIntervals(q.Get("timeIntervals"))
	if !ok {
		return linkedinInvalid("Invalid value for parameter timeIntervals: " + q.Get("timeIntervals"))
	}
	if end.Sub(start) > LinkedInMaxStatisticsDays*day || !end.After(start) {
		return linkedinInvalid("The time range must be positive and at most 366 days")
	}
	a := c.acct
	today := c.now.Truncate(day)
	elements := []any{}
	for d := start.Truncate(day); d.Before(end) && !d.After(today); d = d.Add(day) {
		var e linkedinFollowerStat
		e.OrganizationalEntity = orgURN(a)
		e.TimeRange.Start, e.TimeRange.End = d.UnixMilli(), d.Add(day).UnixMilli()
		e.FollowerGains.OrganicFollowerGain = a.followers(minT(d.Add(day), c.now)) - a.followers(d)
		elements = append(elements, e)
	}
	total := len(elements)
	return http.StatusOK, linkedinCollection{Paging: linkedinPaging{Start: 0, Count: total, Links: []linkedinLink{}, Total: &total}, Elements: elements}
}

// parseTimeIntervals reads
// "(timeRange:(start:MS,end:MS),timeGranularityType:DAY)".
func parseTimeIntervals(v string) (start, end time.Time, ok bool) {
	v = strings.ReplaceAll(v, " ", "")
	if !strings.Contains(v, "timeGranularityType:DAY") {
		return time.Time{}, time.Time{}, false
	}
	get := func(key string) (int64, bool) {
		_, rest, found := strings.Cut(v, key+":")
		if !found {
			return 0, false
		}
		n := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if n <= 0 {
			return 0, false
		}
		ms, err := strconv.ParseInt(rest[:n], 10, 64)
		return ms, err == nil
	}
	s, ok1 := get("start")
	e, ok2 := get("end")
	if !ok1 || !ok2 {
		return time.Time{}, time.Time{}, false
	}
	return time.UnixMilli(s).UTC(), time.UnixMilli(e).UTC(), true
}
