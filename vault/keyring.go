package vault

import (
	"context"
	"crypto/cipher"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// Keyring is a KeyWrapper holding AES-256 master keys in memory, indexed by
// id, one of which is current: Wrap always uses the current key, Unwrap
// accepts any key in the ring. To rotate, add a new key, make it current,
// re-wrap stored data keys (postgres.DB.RotateMasterKey), then drop the old
// key from the configuration.
//
// A Keyring is immutable and safe for concurrent use. Its String and
// GoString methods print key ids only, never key material.
type Keyring struct {
	current string
	keys    map[string]cipher.AEAD
	ids     []string // sorted, for String
}

var _ KeyWrapper = (*Keyring)(nil)

// NewKeyring returns a Keyring holding keys (id → 32-byte key) with current
// as the key used for wrapping. Ids must be non-empty and must not contain
// ':' or ','; every key must be KeySize bytes. The Keyring retains only the
// expanded AES state, so the caller may clear keys after the call.
func NewKeyring(current string, keys map[string][]byte) (*Keyring, error) {
	if _, ok := keys[current]; !ok {
		return nil, fmt.Errorf("vault: current key %q is not in the keyring", current)
	}
	kr := &Keyring{current: current, keys: make(map[string]cipher.AEAD, len(keys))}
	for id, key := range keys {
		if id == "" || strings.ContainsAny(id, ":,") || strings.TrimSpace(id) != id {
			return nil, fmt.Errorf("vault: invalid key id %q", id)
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("vault: key %q: %d bytes, want %d", id, len(key), KeySize)
		}
		aead, err := newAEAD(key)
		if err != nil {
			return nil, err
		}
		kr.keys[id] = aead
		kr.ids = append(kr.ids, id)
	}
	slices.Sort(kr.ids)
	return kr, nil
}

// ParseKeyring parses a keyring specification of the form
//
//	id1:base64key1,id2:base64key2,...
//
// as read from an environment variable (e.g. PULSE_MASTER_KEYS). The first
// entry is the current key. Keys are 32 bytes encoded in standard or URL-safe
// base64, padded or not; whitespace around entries is ignored. Generate a
// key with `openssl rand -base64 32`. Error messages name key ids but never
// echo key material.
func ParseKeyring(spec string) (*Keyring, error) {
	keys := make(map[string][]byte)
	current := ""
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		id, b64, ok := strings.Cut(entry, ":")
		id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
		if !ok || id == "" || b64 == "" {
			return nil, fmt.Errorf("vault: keyring entry %d: want id:base64key", i+1)
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("vault: keyring: duplicate key id %q", id)
		}
		key, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("vault: keyring key %q: not valid base64", id)
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("vault: keyring key %q: %d bytes, want %d", id, len(key), KeySize)
		}
		keys[id] = key
		if i == 0 {
			current = id
		}
	}
	kr, err := NewKeyring(current, keys)
	for _, k := range keys {
		clear(k)
	}
	return kr, err
}

func decodeKey(s string) ([]byte, error) {
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// CurrentKeyID returns the id of the key Wrap uses.
func (k *Keyring) CurrentKeyID() string { return k.current }

// Wrap encrypts plaintext (a data key) under the current master key.
func (k *Keyring) Wrap(_ context.Context, plaintext []byte) (string, []byte, error) {
	return k.current, seal(k.keys[k.current], plaintext, wrapAD(k.current)), nil
}

// Unwrap decrypts a ciphertext produced by Wrap under master key keyID. It
// returns an error wrapping ErrUnknownKey if the ring lacks keyID and one
// wrapping ErrDecrypt if the ciphertext does not authenticate.
func (k *Keyring) Unwrap(_ context.Context, keyID string, ciphertext []byte) ([]byte, error) {
	aead, ok := k.keys[keyID]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, keyID)
	}
	pt, err := open(aead, ciphertext, wrapAD(keyID))
	if err != nil {
		return nil, fmt.Errorf("unwrap under master key %q: %w", keyID, err)
	}
	return pt, nil
}

// wrapAD binds a wrapped key to the id of the master key that wrapped it.
func wrapAD(keyID string) []byte { return []byte("pulse/vault/wrap/v1\x00" + keyID) }

// String describes the keyring by key ids only.
func (k *Keyring) String() string {
	return fmt.Sprintf("vault.Keyring{current: %q, ids: %q}", k.current, k.ids)
}

// GoString is String, so %#v does not print key material either.
func (k *Keyring) GoString() string { return k.String() }
