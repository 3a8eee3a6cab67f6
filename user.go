package pulse

import (
	"time"

	"github.com/pulsehq/pulse/topics"
)

// User is a Pulse account.
type User struct {
	ID        string // UUID
	Email     string // as entered at sign-up; unique case-insensitively
	CreatedAt time.Time
}

// Session is a signed-in session.
type Session struct {
	// ID identifies the session: the hex SHA-256 of its token. It is not a
	// credential (the stores look sessions up by token), so it may be
	// logged and stored; OAuth states are bound to it.
	ID        string
	User      User
	ExpiresAt time.Time
}

// OAuthState is a pending authorize request, as redeemed from the store.
type OAuthState struct {
	// SessionID is the Session.ID of the session that started the request.
	SessionID string
	UserID    string
	Platform  topics.Platform
	// Verifier is the PKCE code verifier; "" if none was stored. It is a
	// secret until the code is exchanged: never log it.
	Verifier  string
	CreatedAt time.Time
	// ExpiresAt is when the request stops being redeemable.
	ExpiresAt time.Time
}

// LoginLimits is a sign-in throttling policy: a delay per account that
// grows with its failures, and a cap per client network. Every admitted
// attempt counts as a failure for Window unless it succeeds.
//
// The account's delay binds only networks that have failed on it within
// Window: a correct password from a network that has not been failing
// gets in whatever an attacker elsewhere does, while a network guessing at
// the account waits longer after each failure.
type LoginLimits struct {
	// Window is how long a failure counts.
	Window time.Duration
	// FreeFailures is how many failures (from any network) within Window
	// raise no delay for an account. Each further failure sets its delay:
	// an attempt from a network that has failed on the account waits
	// Backoff after the account's last failure, then twice as long after
	// each further failure, up to MaxBackoff.
	FreeFailures int
	Backoff      time.Duration
	MaxBackoff   time.Duration
	// PerClient limits attempts from one client network across email
	// addresses within Window: credential stuffing. Keep it well above
	// FreeFailures, since many users may share a network (NAT, offices).
	PerClient int
}

// DefaultLoginLimits: 3 free failures per account, then delays of 1 s,
// 2 s, 4 s … up to 15 minutes; 50 attempts per client network; failures
// count for 15 minutes.
var DefaultLoginLimits = LoginLimits{Window: 15 * time.Minute, FreeFailures: 3, Backoff: time.Second,
	MaxBackoff: 15 * time.Minute, PerClient: 50}

// Validate returns an EINVALID error unless the window, backoffs and
// client limit are positive, FreeFailures is not negative and MaxBackoff
// is at least Backoff.
func (l LoginLimits) Validate() error {
	if l.Window <= 0 || l.FreeFailures < 0 || l.Backoff <= 0 || l.MaxBackoff < l.Backoff || l.PerClient < 1 {
		return Errorf(EINVALID, "", "login limits need a positive window, backoff and client limit, got %+v", l)
	}
	return nil
}

// Delay is the wait an account with failures failures in Window imposes
// after its last failure: 0 up to FreeFailures, then Backoff doubling per
// further failure, up to MaxBackoff.
func (l LoginLimits) Delay(failures int) time.Duration {
	n := failures - l.FreeFailures
	if n <= 0 {
		return 0
	}
	d := l.Backoff
	for i := 1; i < n && d < l.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, l.MaxBackoff)
}

// LoginAttempt is a sign-in attempt admitted by the throttle. Report its
// success back to the throttle unchanged; a failed attempt needs no
// report, it keeps counting until it expires. The zero LoginAttempt is
// no attempt.
type LoginAttempt struct {
	// ID identifies the attempt; "" for the zero LoginAttempt.
	ID string
	// Email is the address as typed, Client the client network (e.g. an
	// IPv4 address or an IPv6 /64): the throttle's keys.
	Email, Client string
}

// SignUpVerificationTTL is how long a sign-up's verification link works.
const SignUpVerificationTTL = 24 * time.Hour

// SignUp is a sign-up request as the store took it. Whether Email is
// registered decides which mail its address gets; the answer to the
// client is the same either way.
type SignUp struct {
	// Email is the address, trimmed.
	Email string
	// Registered is set when Email already has an account: nothing was
	// stored.
	Registered bool
	// Token completes the sign-up (VerifySignUp) when Email was not
	// registered; "" otherwise. A secret: it goes only into the mail.
	Token string
}

// Mail is a message to one address. Text may hold a secret link: mailers
// must not log it.
type Mail struct {
	To      string
	Subject string
	Text    string
}
