package postgres

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password policy.
const (
	// MinPasswordLen is the minimum password length in characters (runes).
	MinPasswordLen = 10
	// MaxPasswordLen is the maximum password length in bytes.
	MaxPasswordLen = 1024
)

// argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1
// lane). They are recorded in each hash, so raising them later only affects
// new hashes.
const (
	argonMemory  = 19456 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// dummyHash is verified against when an email is unknown, so that
// Authenticate takes as long as for a wrong password. It is the hash of a
// random, discarded password with the parameters above.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$APX8FRjFeb2WJVR/Ad5Y2g$CEdvekcfSj14U+HMlT3uKWzI9pSR2YndrWH6BBA4H+s"

// hashSlots bounds concurrent argon2 computations (each allocates
// argonMemory KiB) to the number of CPUs, so a burst of logins queues
// instead of exhausting memory.
var hashSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

func acquireHashSlot(ctx context.Context) (release func(), err error) {
	select {
	case hashSlots <- struct{}{}:
		return func() { <-hashSlots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// hashesComputed counts hashPassword's argon2id computations; tests check
// that a sign-up hashes whether or not its address is registered.
var hashesComputed atomic.Int64

// hashPassword returns password's argon2id hash as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
func hashPassword(ctx context.Context, password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	release, err := acquireHashSlot(ctx)
	if err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	release()
	hashesComputed.Add(1)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// verifyPassword reports whether password matches the PHC string phc, using
// the parameters recorded in phc and a constant-time comparison.
func verifyPassword(ctx context.Context, phc, password string) (bool, error) {
	h, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	release, err := acquireHashSlot(ctx)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	release()
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

type phcHash struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

var errBadPHC = errors.New("malformed argon2id hash")

func parsePHC(phc string) (phcHash, error) {
	// "", "argon2id", "v=19", "m=...,t=...,p=...", salt, key
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return phcHash{}, errBadPHC
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return phcHash{}, errBadPHC
	}
	var h phcHash
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &h.threads); err != nil {
		return phcHash{}, errBadPHC
	}
	// Bound the work a stored hash can demand.
	if h.memory < 8 || h.memory > 1<<21 || h.time < 1 || h.time > 16 || h.threads < 1 {
		return phcHash{}, errBadPHC
	}
	var err1, err2 error
	h.salt, err1 = base64.RawStdEncoding.DecodeString(parts[4])
	h.key, err2 = base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(h.salt) < 8 || len(h.key) < 16 || len(h.key) > 64 {
		return phcHash{}, errBadPHC
	}
	return h, nil
}

// validatePassword enforces the password policy for a new password.
func validatePassword(email, password string) error {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return fmt.Errorf("password must be at least %d characters", MinPasswordLen)
	case len(password) > MaxPasswordLen:
		return fmt.Errorf("password must be at most %d bytes", MaxPasswordLen)
	case !utf8.ValidString(password):
		return errors.New("password must be valid UTF-8")
	case strings.EqualFold(strings.TrimSpace(password), email):
		return errors.New("password must not be the email address")
	}
	return nil
}
