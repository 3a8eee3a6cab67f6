package x

import (
	"reflect"
	"testing"
	"time"

	"github.com/pulsehq/pulse/platforms"
)

const accountSample = `{"data":{"id":"2244994945","name":"Developers","username":"XDevelopers",` +
	`"public_metrics":{"followers_count":570123,"following_count":2048,"tweet_count":3961,"listed_count":2011,"like_count":1234,"media_count":7}}}`

const postsSample = `{"data":[` +
	`{"id":"1861049930110050304","text":"Q&amp;A at 5pm 🚀","edit_history_tweet_ids":["1861049930110050304"],"created_at":"2026-11-25T10:00:00.000Z",` +
	`"public_metrics":{"retweet_count":3,"reply_count":2,"like_count":40,"quote_count":1,"bookmark_count":5,"impression_count":1200}},` +
	`{"id":"1861000000000000000","text":"older","edit_history_tweet_ids":["1861000000000000000"],"created_at":"2026-11-25T06:41:07.000Z"}],` +
	`"meta":{"result_count":2,"newest_id":"1861049930110050304","oldest_id":"1861000000000000000","next_token":"7140dibdnow9c7btw3w29grvxfcgvpb9n9coehpk7xz5i"}}`

func TestParseAccount(t *testing.T) {
	c := &Connector{}
	got, err := c.ParseAccount([]byte(accountSample))
	if err != nil {
		t.Fatal(err)
	}
	want := platforms.Account{ID: "2244994945", Handle: "XDevelopers", Followers: 570123, Following: 2048, PostsCount: 3961}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	got, err = c.ParseAccount([]byte(`{"data":{"id":"1","username":"a"}}`))
	if err != nil || got != (platforms.Account{ID: "1", Handle: "a"}) {
		t.Errorf("no metrics: %+v, %v", got, err)
	}
	for _, bad := range []string{
		``, `null`, `[]`, `"x"`, `{}`, `{"data":null}`, `{"data":{"name":"no id"}}`, `{"data":{"id":1}}`,
		`{"errors":[{"title":"Not Found Error"}]}`, `{"data":{"id":"1"`, `{"data":{"id":"1","public_metrics":{"followers_count":"many"}}}`,
	} {
		if _, err := c.ParseAccount([]byte(bad)); err == nil {
			t.Errorf("ParseAccount(%q) succeeded", bad)
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
			ID: "1861049930110050304", CreatedAt: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Text: "Q&amp;A at 5pm 🚀",
			Permalink: "https://x.com/i/web/status/1861049930110050304", Likes: 40, Comments: 2, Shares: 4, Views: 1200,
		},
		{
			ID: "1861000000000000000", CreatedAt: time.Date(2026, 11, 25, 6, 41, 7, 0, time.UTC), Text: "older",
			Permalink: "https://x.com/i/web/status/1861000000000000000",
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}

	for _, empty := range []string{`{"meta":{"result_count":0}}`, `{"data":[]}`, `{}`} {
		if got, err := c.ParsePosts([]byte(empty)); err != nil || len(got) != 0 {
			t.Errorf("ParsePosts(%s) = %v, %v; want empty", empty, got, err)
		}
	}
	for _, bad := range []string{
		``, `null`, `[]`, `{"data":{}}`, `{"data":[{"text":"no id"}]}`, `{"data":[{"id":"1","created_at":"yesterday"}]}`, `{"data":[`,
	} {
		if _, err := c.ParsePosts([]byte(bad)); err == nil {
			t.Errorf("ParsePosts(%q) succeeded", bad)
		}
	}
}
