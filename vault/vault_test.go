package vault

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key, other := GenerateKey(), GenerateKey()
	ct, err := Seal(key, []byte("secret"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("secret")) {
		t.Fatal("ciphertext contains plaintext")
	}
	pt, err := Open(key, ct, []byte("ad"))
	if err != nil || string(pt) != "secret" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	tampered := bytes.Clone(ct)
	tampered[len(tampered)-1] ^= 1
	for name, tc := range map[string]struct {
		key, ct, ad []byte
	}{
		"wrong ad":  {key, ct, []byte("other")},
		"wrong key": {other, ct, []byte("ad")},
		"tampered":  {key, tampered, []byte("ad")},
		"truncated": {key, ct[:10], []byte("ad")},
		"empty":     {key, nil, []byte("ad")},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Open(tc.key, tc.ct, tc.ad); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Open = %v, want ErrDecrypt", err)
			}
		})
	}
	if _, err := Seal([]byte("short"), nil, nil); err == nil {
		t.Fatal("Seal with a short key succeeded")
	}
}

func TestParseKeyring(t *testing.T) {
	k1, k2 := GenerateKey(), GenerateKey()
	std, url := base64.StdEncoding.EncodeToString(k1), base64.RawURLEncoding.EncodeToString(k2)
	kr, err := ParseKeyring(fmt.Sprintf(" k1:%s , k2:%s", std, url))
	if err != nil {
		t.Fatal(err)
	}
	if kr.CurrentKeyID() != "k1" {
		t.Fatalf("current = %q, want k1", kr.CurrentKeyID())
	}
	for _, s := range []string{kr.String(), fmt.Sprintf("%v %+v %#v", kr, kr, kr)} {
		if strings.Contains(s, std) || strings.Contains(s, url) || !strings.Contains(s, `"k2"`) {
			t.Fatalf("formatted keyring = %s", s)
		}
	}

	for _, spec := range []string{
		"",
		"k1",
		"k1:",
		":" + std,
		"k1:not base64!",
		"k1:" + base64.StdEncoding.EncodeToString([]byte("too short")),
		"k1:" + std + ",k1:" + url,
		"k1:" + std + ",",
	} {
		t.Run(spec, func(t *testing.T) {
			_, err := ParseKeyring(spec)
			if err == nil {
				t.Fatal("ParseKeyring succeeded")
			}
			if strings.Contains(err.Error(), std) {
				t.Fatalf("error leaks key material: %v", err)
			}
		})
	}
}

func TestKeyringWrapUnwrap(t *testing.T) {
	ctx := context.Background()
	k1, k2 := GenerateKey(), GenerateKey()
	old, err := NewKeyring("k1", map[string][]byte{"k1": k1})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := NewKeyring("k2", map[string][]byte{"k1": k1, "k2": k2})
	if err != nil {
		t.Fatal(err)
	}
	dek := GenerateKey()
	id, ct, err := old.Wrap(ctx, dek)
	if err != nil || id != "k1" {
		t.Fatalf("Wrap = %q, %v", id, err)
	}
	got, err := rotated.Unwrap(ctx, id, ct)
	if err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("Unwrap with rotated ring = %v", err)
	}
	id2, ct2, _ := rotated.Wrap(ctx, dek)
	if id2 != "k2" {
		t.Fatalf("rotated Wrap id = %q, want k2", id2)
	}
	if _, err := old.Unwrap(ctx, id2, ct2); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Unwrap unknown id = %v, want ErrUnknownKey", err)
	}
	// A ciphertext relabelled with another key id must not authenticate.
	if _, err := rotated.Unwrap(ctx, "k2", ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Unwrap relabelled = %v, want ErrDecrypt", err)
	}

	for name, tc := range map[string]struct {
		current string
		keys    map[string][]byte
	}{
		"missing current": {"k9", map[string][]byte{"k1": k1}},
		"short key":       {"k1", map[string][]byte{"k1": k1[:16]}},
		"bad id":          {"a,b", map[string][]byte{"a,b": k1}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewKeyring(tc.current, tc.keys); err == nil {
				t.Fatal("NewKeyring succeeded")
			}
		})
	}
}
