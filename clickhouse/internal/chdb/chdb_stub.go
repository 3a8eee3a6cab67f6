//go:build !cgo || !linux

package chdb

import "errors"

// Conn is unavailable in this build: chDB is loaded through cgo on Linux.
type Conn struct{}

// Open fails: this build has no cgo or is not on Linux.
func Open(libPath, dir string) (*Conn, error) {
	return nil, errors.New("chdb: needs cgo on linux")
}

// Query is never reached (Open fails).
func (c *Conn) Query(sql, format string) (string, error) { return "", errors.New("chdb: unavailable") }

// Close does nothing.
func (c *Conn) Close() {}
