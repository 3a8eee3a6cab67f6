// Package httpx is the HTTP plumbing shared by Pulse's platform connectors
// (platforms/x, platforms/linkedin and, through platforms/internal/meta,
// platforms/facebook and platforms/instagram): checking the common fields
// of a platforms.Config, retry backoff, secret redaction of error messages
// and strict JSON object decoding. Platform-specific behaviour (error
// classification, rate-limit headers, paging) stays with each connector.
package httpx

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	// encoding/json's semantics, about three times faster: the normalizer
	// parses every fetched body with DecodeObject.
	jsonv2 "github.com/go-json-experiment/json"
	json "github.com/go-json-experiment/json/v1"

	"github.com/pulsehq/pulse/internal/jsonscan"
	"github.com/pulsehq/pulse/platforms"
)

// UserAgent is the User-Agent header of every connector request.
const UserAgent = "pulse (+https://github.com/pulsehq/pulse)"

// Defaults are a connector's values for the fields of platforms.Config
// left empty.
type Defaults struct {
	BaseURL     string
	AuthBaseURL string
	MaxPages    int
	HTTPTimeout time.Duration
}

// Settings are the checked common fields of a platforms.Config.
type Settings struct {
	// BaseURL and AuthBaseURL are absolute http(s) roots without a
	// trailing slash.
	BaseURL     string
	AuthBaseURL string
	// HTTP is cfg.HTTPClient, or a client with the default timeout.
	HTTP *http.Client
	// MaxPages is positive.
	MaxPages int
}

// Configure checks cfg's BaseURL, AuthBaseURL, RedirectURL and
// MaxPostPages, in that order, and returns them with def filling the empty
// ones (RedirectURL is checked only when set, and not returned: the caller
// keeps cfg's). It fails when a URL is not absolute http(s) (or a root has
// a query or fragment) or MaxPostPages is negative; the error names the
// field, and the caller prefixes its platform.
func Configure(cfg platforms.Config, def Defaults) (Settings, error) {
	s := Settings{HTTP: cfg.HTTPClient, MaxPages: cfg.MaxPostPages}
	var err error
	if s.BaseURL, err = RootURL(cfg.BaseURL, def.BaseURL); err != nil {
		return Settings{}, fmt.Errorf("BaseURL: %w", err)
	}
	if s.AuthBaseURL, err = RootURL(cfg.AuthBaseURL, def.AuthBaseURL); err != nil {
		return Settings{}, fmt.Errorf("AuthBaseURL: %w", err)
	}
	if cfg.RedirectURL != "" {
		if _, err := AbsURL(cfg.RedirectURL); err != nil {
			return Settings{}, fmt.Errorf("RedirectURL: %w", err)
		}
	}
	switch {
	case s.MaxPages < 0:
		return Settings{}, fmt.Errorf("MaxPostPages %d is negative", s.MaxPages)
	case s.MaxPages == 0:
		s.MaxPages = def.MaxPages
	}
	if s.HTTP == nil {
		s.HTTP = &http.Client{Timeout: def.HTTPTimeout}
	}
	return s, nil
}

// RootURL validates s (def when empty) as an absolute http(s) URL without
// query or fragment and returns it without a trailing slash.
func RootURL(s, def string) (string, error) {
	if s == "" {
		s = def
	}
	u, err := AbsURL(s)
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q has a query or fragment", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// AbsURL parses s, which must be an absolute http(s) URL with a host.
func AbsURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return u, nil
}

// Backoff is the wait before attempt+1 of a transient failure:
// base*2^(attempt-1), of which the upper half is random so that concurrent
// fetchers spread out. It is zero when base is (or the shift makes it)
// zero or negative.
func Backoff(base time.Duration, attempt int) time.Duration {
	d := base << (attempt - 1)
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Sleep waits d or until ctx is done, whichever is first. It returns nil
// after d, else context.Cause(ctx).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// decodeOptions are encoding/json's semantics, with its Number type
// decoded by encoding/json itself (the faster decoder has its own).
var decodeOptions = jsonv2.JoinOptions(json.DefaultOptionsV1(),
	jsonv2.WithUnmarshalers(jsonv2.UnmarshalFunc(func(b []byte, n *stdjson.Number) error {
		return stdjson.Unmarshal(b, n)
	})))

// DecodeObjectByHand decodes b into v with byHand, a hand-written decoder
// built on jsonscan (for the bodies the normalizer parses by the hundred
// thousand), and with DecodeObject instead, into a zeroed v, wherever
// byHand falls back: the result is always DecodeObject's.
func DecodeObjectByHand[T any](b []byte, v *T, byHand func(s *jsonscan.Scanner, v *T) error) error {
	s := jsonscan.New(b)
	err := byHand(s, v)
	if err == nil {
		err = s.End()
	}
	if err == nil {
		return nil
	}
	*v = *new(T)
	return DecodeObject(b, v)
}

// DecodeObject unmarshals b, which must be a JSON object, into v.
func DecodeObject(b []byte, v any) error {
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errors.New("not a JSON object")
	}
	return jsonv2.Unmarshal(b, v, decodeOptions)
}
