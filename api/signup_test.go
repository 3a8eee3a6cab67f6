package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/pulsehq/pulse/api"
)

// signUpFrom signs up email through a trusted proxy that reports the
// client as addr, and returns the status.
func signUpFrom(t *testing.T, e *env, addr, email string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": testPassword})
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/auth/signup", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	// A client-written entry first: it must not be believed.
	req.Header.Set("X-Forwarded-For", "10.9.9.9, "+addr)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	return resp.StatusCode
}

// TestSignUpsAreThrottledPerNetworkAndGlobally: of twenty sign-ups from
// one network (behind the trusted proxy), the first ten are accepted and the
// rest get 429, while another network still signs up; past the global
// limit, every network is refused.
func TestSignUpsAreThrottledPerNetworkAndGlobally(t *testing.T) {
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	e := newEnv(t, func(c *api.Config) {
		c.TrustedProxies = []netip.Prefix{loopback}
		c.SignUpLimits = api.SignUpLimits{Window: api.DefaultSignUpLimits.Window, PerNetwork: 10, Global: 13}
	})
	var created, throttled int
	for i := range 20 {
		switch st := signUpFrom(t, e, "203.0.113.7", fmt.Sprintf("flood%d@example.com", i)); st {
		case http.StatusAccepted:
			created++
		case http.StatusTooManyRequests:
			throttled++
		default:
			t.Fatalf("sign-up %d: status %d", i, st)
		}
	}
	if created != 10 || throttled != 10 {
		t.Fatalf("from one network: %d created, %d throttled; want 10 and 10", created, throttled)
	}
	for i, addr := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		if st := signUpFrom(t, e, addr, fmt.Sprintf("other%d@example.com", i)); st != http.StatusAccepted {
			t.Fatalf("another network (%s): %d, want 202", addr, st)
		}
	}
	if st := signUpFrom(t, e, "198.51.100.4", "one-too-many@example.com"); st != http.StatusTooManyRequests {
		t.Fatalf("past the global limit: %d, want 429", st)
	}
}

// TestSignUpDoesNotRevealRegisteredEmails: signing up with a registered
// address (in another letter case) gets the answer a fresh address gets,
// byte for byte and without a session; the owner is mailed a note and the
// account is unchanged, while the fresh address is mailed a link whose
// token completes the sign-up, once, and signs in.
func TestSignUpDoesNotRevealRegisteredEmails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.browser(t).signUp("ada@example.com")

	// Same length, so that even the echoed address leaves bodies equal in
	// size; the comparison below substitutes it.
	attacker := e.browser(t)
	const taken, fresh = "ADA@example.com", "bob@example.com"
	registered := attacker.postJSON("/auth/signup", map[string]string{"email": taken, "password": "an attacker's password"})
	unregistered := attacker.postJSON("/auth/signup", map[string]string{"email": fresh, "password": "an attacker's password"})
	for _, r := range []response{registered, unregistered} {
		if r.StatusCode != http.StatusAccepted {
			t.Fatalf("sign-up: %d %s, want 202", r.StatusCode, r.body)
		}
		if c := r.Header.Values("Set-Cookie"); len(c) > 0 {
			t.Fatalf("sign-up set cookies: %v", c)
		}
	}
	if a, b := strings.ReplaceAll(string(registered.body), taken, "X"), strings.ReplaceAll(string(unregistered.body), fresh, "X"); a != b {
		t.Fatalf("answers differ:\n%s\n%s", registered.body, unregistered.body)
	}
	if strings.Contains(string(registered.body), "token") {
		t.Fatalf("sign-up answered a token: %s", registered.body)
	}
	headers := func(r response) []string {
		var ks []string
		for k := range r.Header {
			if k != "Date" {
				ks = append(ks, k+"="+strings.Join(r.Header[k], ","))
			}
		}
		slices.Sort(ks)
		return ks
	}
	if a, b := headers(registered), headers(unregistered); !slices.Equal(a, b) {
		t.Fatalf("headers differ:\n%v\n%v", a, b)
	}
	// The attacker's session cookie jar is empty: nothing signs them in.
	var me meResult
	attacker.mustGraphQL(meQuery, nil, &me)
	if me.Me != nil {
		t.Fatalf("the sign-up signed in: %+v", me.Me)
	}

	// The owner gets a note without a link that could complete anything.
	notes := e.mail.to(taken)
	if len(notes) != 1 || verifyLink.MatchString(notes[0].Text) || !strings.Contains(notes[0].Text, e.srv.URL+"/#/signin") ||
		!strings.Contains(notes[0].Subject, "tried to create") {
		t.Fatalf("mail to the registered address = %+v", notes)
	}
	if r := e.browser(t).login("ada@example.com", testPassword); r.StatusCode != http.StatusOK {
		t.Fatalf("the owner's password: %d %s", r.StatusCode, r.body)
	}
	if r := e.browser(t).login("ada@example.com", "an attacker's password"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the attacker's password on the registered account: %d %s", r.StatusCode, r.body)
	}

	// The fresh address: no account until its link is opened.
	token := e.mail.signUpToken(t, fresh)
	if mails := e.mail.to(fresh); len(mails) != 1 || !strings.Contains(mails[0].Text, e.srv.URL+"/#/verify?token="+token) {
		t.Fatalf("mail to the fresh address = %+v", mails)
	}
	if r := e.browser(t).login(fresh, "an attacker's password"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sign-in before verification: %d %s", r.StatusCode, r.body)
	}
	owner := e.browser(t)
	r := owner.postJSON("/auth/verify", map[string]string{"token": token})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("verify: %d %s", r.StatusCode, r.body)
	}
	sessionCookie(t, r)
	owner.mustGraphQL(meQuery, nil, &me)
	if me.Me == nil || me.Me.Email != fresh {
		t.Fatalf("me after verification = %+v", me.Me)
	}
	if r := owner.postJSON("/auth/verify", map[string]string{"token": token}); r.StatusCode != http.StatusNotFound {
		t.Fatalf("the link opened twice: %d %s", r.StatusCode, r.body)
	}
	if r := e.browser(t).login(fresh, "an attacker's password"); r.StatusCode != http.StatusOK {
		t.Fatalf("sign-in after verification: %d %s", r.StatusCode, r.body)
	}
	// A second sign-up for the now registered address gets the note too.
	if r := e.browser(t).postJSON("/auth/signup", map[string]string{"email": fresh, "password": testPassword}); r.StatusCode != http.StatusAccepted {
		t.Fatalf("sign-up again: %d %s", r.StatusCode, r.body)
	}
	if mails := e.mail.to(fresh); len(mails) != 2 || verifyLink.MatchString(mails[1].Text) {
		t.Fatalf("mails to the now registered address = %+v", mails)
	}
	e.assertNoSecrets(t, token, testPassword, "an attacker's password")
}

// TestSignUpWithoutMailerLogsNoLink: the default mailer only logs that a
// mail was due, never its link; the sign-up answers as usual.
func TestSignUpWithoutMailerLogsNoLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *api.Config) { c.Mailer = nil })
	r := e.browser(t).postJSON("/auth/signup", map[string]string{"email": "ada@example.com", "password": testPassword})
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("sign-up: %d %s", r.StatusCode, r.body)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "no mailer configured") || strings.Contains(logs, "token=") || strings.Contains(logs, "verify") {
		t.Fatalf("logs:\n%s", logs)
	}
}
