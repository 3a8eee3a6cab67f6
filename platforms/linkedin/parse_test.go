package linkedin

import (
	"reflect"
	"testing"
	"time"

	"github.com/pulsehq/pulse/platforms"
)

const accountSample = `{"organization":{"vanityName":"linkedin","localizedName":"LinkedIn",` +
	`"name":{"localized":{"en_US":"LinkedIn"},"preferredLocale":{"country":"US","language":"en"}},` +
	`"primaryOrganizationType":"NONE","organizationType":"PUBLIC_COMPANY","versionTag":"2336417088",` +
	`"id":1337,"$URN":"urn:li:organization:1337","localizedWebsite":"https://www.linkedin.com"},` +
	`"networkSizes":{"firstDegreeSize":27118765}}`

const postsSample = `{"posts":{"paging":{"start":0,"count":50,"links":[{"type":"application/json","rel":"next",` +
	`"href":"/rest/posts?author=urn%3Ali%3Aorganization%3A1337&count=50&q=author&sortBy=CREATED&start=50"}]},"elements":[` +
	`{"id":"urn:li:share:7399002119442137088","author":"urn:li:organization:1337",` +
	`"commentary":"Q&A at 5pm \\(bring questions\\) with @[Pulse HQ](urn:li:organization:2414183) {hashtag|\\#|buildinpublic} 🚀",` +
	`"visibility":"PUBLIC","distribution":{"feedDistribution":"MAIN_FEED","targetEntities":[],"thirdPartyDistributionChannels":[]},` +
	`"lifecycleState":"PUBLISHED","lifecycleStateInfo":{"isEditedByAuthor":false},"isReshareDisabledByAuthor":false,` +
	`"createdAt":1764064800000,"publishedAt":1764064800000,"lastModifiedAt":1764064800000},` +
	`{"id":"urn:li:ugcPost:7398910000000000000","author":"urn:li:organization:1337",` +
	`"content":{"media":{"id":"urn:li:image:C4D22AQFjy8Kx"}},"lifecycleState":"PUBLISHED","createdAt":1764042867000,"publishedAt":1764042867000},` +
	`{"id":"urn:li:share:7398000000000000000","author":"urn:li:organization:1337","commentary":"older","createdAt":1763800000000}]},` +
	`"statistics":{"paging":{"start":0,"count":2,"links":[]},"elements":[` +
	`{"organizationalEntity":"urn:li:organization:1337","share":"urn:li:share:7399002119442137088",` +
	`"totalShareStatistics":{"uniqueImpressionsCount":840,"shareCount":4,"engagement":0.05,"clickCount":12,"likeCount":40,"impressionCount":1200,"commentCount":2}},` +
	`{"organizationalEntity":"urn:li:organization:1337","ugcPost":"urn:li:ugcPost:7398910000000000000",` +
	`"totalShareStatistics":{"shareCount":1,"likeCount":7,"impressionCount":300,"commentCount":0}}]},` +
	`"since":1764042867000}`

func TestParseAccount(t *testing.T) {
	c := &Connector{}
	got, err := c.ParseAccount([]byte(accountSample))
	if err != nil {
		t.Fatal(err)
	}
	if want := (platforms.Account{ID: "1337", Handle: "linkedin", Followers: 27118765}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for body, want := range map[string]platforms.Account{
		`{"organization":{"$URN":"urn:li:organization:42","localizedName":"No Vanity"}}`: {ID: "42", Handle: "No Vanity"},
		`{"organization":{"id":"7","vanityName":"v"},"networkSizes":null}`:               {ID: "7", Handle: "v"},
		`{"organization":{"id":7},"networkSizes":{}}`:                                    {ID: "7"},
	} {
		if got, err := c.ParseAccount([]byte(body)); err != nil || got != want {
			t.Errorf("ParseAccount(%s) = %+v, %v; want %+v", body, got, err, want)
		}
	}
	for _, bad := range []string{
		``, `null`, `[]`, `{}`, `{"organization":null}`, `{"organization":{}}`, `{"organization":{"id":0}}`,
		`{"organization":{"id":-3}}`, `{"organization":{"id":1.5}}`, `{"organization":{"$URN":"urn:li:person:abc"}}`,
		`{"organization":{"id":1},"networkSizes":{"firstDegreeSize":"many"}}`, `{"organization":{"id":1},"networkSizes":[]}`,
		`{"status":401,"serviceErrorCode":65600,"code":"INVALID_ACCESS_TOKEN","message":"Invalid access token"}`,
		`{"organization":{"id":1`,
	} {
		if a, err := c.ParseAccount([]byte(bad)); err == nil {
			t.Errorf("ParseAccount(%q) = %+v, want an error", bad, a)
		}
	}
}

func TestParsePosts(t *testing.T) {
	c := &Connector{}
	got, err := c.ParsePosts([]byte(postsSample))
	if err != nil {
		t.Fatal(err)
	}
	want := []platforms.PostData{
		{
			ID: "urn:li:share:7399002119442137088", CreatedAt: time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC),
			Text:      "Q&A at 5pm (bring questions) with Pulse HQ #buildinpublic 🚀",
			Permalink: "https://www.linkedin.com/feed/update/urn:li:share:7399002119442137088",
			Likes:     40, Comments: 2, Shares: 4, Views: 1200,
		},
		{
			ID: "urn:li:ugcPost:7398910000000000000", CreatedAt: time.Date(2025, 11, 25, 3, 54, 27, 0, time.UTC),
			Permalink: "https://www.linkedin.com/feed/update/urn:li:ugcPost:7398910000000000000",
			Likes:     7, Shares: 1, Views: 300,
		},
		// The third post is older than since.
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}

	// Without since every post is kept; without statistics counters are 0.
	got, err = c.ParsePosts([]byte(`{"posts":{"elements":[{"id":"urn:li:share:1","createdAt":1000}]}}`))
	if err != nil || len(got) != 1 || got[0].Likes != 0 || !got[0].CreatedAt.Equal(time.UnixMilli(1000)) {
		t.Errorf("no statistics: %+v, %v", got, err)
	}
	for _, empty := range []string{`{}`, `{"data":[]}`, `{"posts":{"elements":[]}}`, `{"posts":null,"statistics":null}`} {
		if got, err := c.ParsePosts([]byte(empty)); err != nil || len(got) != 0 {
			t.Errorf("ParsePosts(%s) = %v, %v; want empty", empty, got, err)
		}
	}
	for _, bad := range []string{
		``, `null`, `[]`, `{"posts":[]}`, `{"posts":{"elements":[{"commentary":"no id"}]}}`, `{"posts":{"elements":[`,
		`{"posts":{"elements":[{"id":"urn:li:share:1","createdAt":"yesterday"}]}}`, `{"statistics":{"elements":{}}}`,
	} {
		if p, err := c.ParsePosts([]byte(bad)); err == nil {
			t.Errorf("ParsePosts(%q) = %+v, want an error", bad, p)
		}
	}
}

func TestPlainText(t *testing.T) {
	for in, want := range map[string]string{
		``:                                       ``,
		`plain text, no markup`:                  `plain text, no markup`,
		`p99 \< 50ms \(really\)`:                 `p99 < 50ms (really)`,
		`{hashtag|\#|golang} and {hashtag|#|go}`: `#golang and #go`,
		`{hashtag|＃|日本}`:                         `＃日本`,
		`hi @[Ada Lovelace](urn:li:person:abc)!`: `hi Ada Lovelace!`,
		`@[A \] B](urn:li:organization:1)`:       `A ] B`,
		`{not a template} @ [x] @[broken`:        `{not a template} @ [x] @[broken`,
		`{hashtag|\#|unterminated`:               `{hashtag|#|unterminated`,
		`trailing \`:                             `trailing `,
		`\\ \é`:                                  `\ é`,
	} {
		if got := PlainText(in); got != want {
			t.Errorf("PlainText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseCursor(t *testing.T) {
	if n, err := ParseCursor(""); n != 0 || err != nil {
		t.Errorf(`ParseCursor("") = %d, %v`, n, err)
	}
	if n, err := ParseCursor("1764064800000"); n != 1764064800000 || err != nil {
		t.Errorf("ParseCursor = %d, %v", n, err)
	}
	for _, bad := range []string{"0", "-1", "01764064800000", "1e12", "176406480000x", "100000000000000", "not-a-cursor", " 1"} {
		if _, err := ParseCursor(bad); err == nil {
			t.Errorf("ParseCursor(%q) succeeded", bad)
		}
	}
}

func TestParseError(t *testing.T) {
	e := ParseError([]byte(`{"status":401,"serviceErrorCode":65602,"code":"EXPIRED_ACCESS_TOKEN","message":"The token used in the request has expired"}`))
	if e == nil || e.ServiceErrorCode != 65602 || e.describe() != "EXPIRED_ACCESS_TOKEN: The token used in the request has expired (serviceErrorCode 65602)" {
		t.Errorf("ParseError = %+v (%q)", e, e.describe())
	}
	if e := ParseError([]byte(`{"message":"Internal Server Error","status":500}`)); e == nil || e.describe() != "Internal Server Error" {
		t.Errorf("message only: %+v", e)
	}
	for _, none := range []string{``, `<html>`, `{}`, `{"status":500}`, `[]`, `{"elements":[]}`} {
		if e := ParseError([]byte(none)); e != nil {
			t.Errorf("ParseError(%q) = %+v", none, e)
		}
	}
}

func TestPagingMore(t *testing.T) {
	total := func(n int) *int { return &n }
	full := make([]postElement, PageSize)
	for _, tc := range []struct {
		name string
		p    postsBody
		want bool
	}{
		{"next link", postsBody{Paging: paging{Links: []link{{"prev", "/p"}, {"next", "/n"}}}}, true},
		{"total left", postsBody{Paging: paging{Start: 0, Total: total(60)}, Elements: full}, true},
		{"total reached", postsBody{Paging: paging{Start: 50, Total: total(60)}, Elements: full[:10]}, false},
		{"full page, nothing said", postsBody{Elements: full}, true},
		{"short page, nothing said", postsBody{Elements: full[:3]}, false},
	} {
		if got := tc.p.more(); got != tc.want {
			t.Errorf("%s: more() = %v", tc.name, got)
		}
	}
}
