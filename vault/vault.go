// Package vault provides the envelope-encryption primitives Pulse uses to
// protect OAuth tokens at rest.
//
// Each user has a random 256-bit data key (DEK). Tokens are sealed with the
// DEK using AES-256-GCM ([Seal], [Open]); the DEK itself is stored only in
// wrapped (encrypted) form, wrapped by a master key through a [KeyWrapper].
// Destroying a user's wrapped DEK makes all of that user's ciphertexts
// unrecoverable (crypto-shredding), and rotating the master key only
// re-wraps the small DEKs, never the token ciphertexts.
//
// [Keyring] is the built-in KeyWrapper holding master keys in process memory,
// configured from the environment. A cloud KMS (AWS KMS, GCP KMS, Vault
// transit, ...) plugs in by implementing [KeyWrapper] in its own package and
// passing it to the storage layer instead of a Keyring.
package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KeySize is the size in bytes of master keys and data keys (AES-256).
const KeySize = 32

// Errors returned by this package. They never contain key material.
var (
	// ErrUnknownKey reports a ciphertext wrapped under a master key id the
	// KeyWrapper does not hold.
	ErrUnknownKey = errors.New("vault: unknown master key id")
	// ErrDecrypt reports a ciphertext that is malformed, was produced under
	// a different key, or does not match its associated data.
	ErrDecrypt = errors.New("vault: message authentication failed")
)

// KeyWrapper wraps and unwraps data keys with a master key. It is the seam
// where a cloud KMS plugs in.
//
// Implementations must be safe for concurrent use. Wrap must use the
// implementation's current master key and return its id; Unwrap must accept
// any id previously returned by Wrap that has not been retired, and return
// an error wrapping ErrUnknownKey for ids it does not hold. Wrap and Unwrap
// may perform network I/O and must honour ctx. Implementations backed by a
// remote KMS should consider caching unwrapped keys briefly, since callers
// unwrap on every decryption.
type KeyWrapper interface {
	Wrap(ctx context.Context, plaintext []byte) (keyID string, ciphertext []byte, err error)
	Unwrap(ctx context.Context, keyID string, ciphertext []byte) ([]byte, error)
}

// GenerateKey returns KeySize bytes from crypto/rand, suitable as a data key
// or a master key.
func GenerateKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k) // never returns an error; crashes the program on failure
	return k
}

// Ciphertext layout produced by Seal: version || nonce || GCM(ciphertext+tag).
const (
	formatV1  byte = 1
	nonceSize      = 12
	overhead       = 1 + nonceSize + 16
)

// Seal encrypts plaintext with the 32-byte key using AES-256-GCM with a
// random nonce, authenticating ad (associated data) as well. The same ad must
// be passed to Open. Callers bind ciphertexts to their context (owner, row,
// field) through ad so that ciphertexts cannot be moved between contexts.
func Seal(key, plaintext, ad []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return seal(aead, plaintext, ad), nil
}

// Open decrypts a ciphertext produced by Seal with the same key and ad. It
// returns an error wrapping ErrDecrypt when the ciphertext is malformed or
// the key or ad do not match.
func Open(key, ciphertext, ad []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return open(aead, ciphertext, ad)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("vault: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return aead, nil
}

func seal(aead cipher.AEAD, plaintext, ad []byte) []byte {
	out := make([]byte, 1+nonceSize, overhead+len(plaintext))
	out[0] = formatV1
	rand.Read(out[1 : 1+nonceSize])
	return aead.Seal(out, out[1:1+nonceSize], plaintext, ad)
}

func open(aead cipher.AEAD, ciphertext, ad []byte) ([]byte, error) {
	if len(ciphertext) < overhead || ciphertext[0] != formatV1 {
		return nil, ErrDecrypt
	}
	pt, err := aead.Open(nil, ciphertext[1:1+nonceSize], ciphertext[1+nonceSize:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
