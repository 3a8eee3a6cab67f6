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

// LoginLimits is a sign-in throttling policy. Attempts are counted in a
// sliding window: every admitted attempt counts for Window unless it
// succeeds. A new attempt is refused while either count is at its limit.
type LoginLimits struct {
	// Window is how long an attempt counts.
	Window time.Duration
	// PerAccount limits attempts for one email address from one client
	// network: password guessing against one account.
	PerAccount int
	// PerClient limits attempts from one client network across email
	// addresses: credential stuffing. Keep it well above PerAccount, since
	// many users may share a network (NAT, offices).
	PerClient int
}

// DefaultLoginLimits allows 5 failed sign-ins per email address and client
// network, and 50 per client network, in any 15 minutes.
var DefaultLoginLimits = LoginLimits{Window: 15 * time.Minute, PerAccount: 5, PerClient: 50}

// Validate returns an EINVALID error unless the window and both limits are
// positive.
func (l LoginLimits) Validate() error {
	if l.Window <= 0 || l.PerAccount < 1 || l.PerClient < 1 {
		return Errorf(EINVALID, "", "login limits need a positive window and limits, got %+v", l)
	}
	return nil
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
