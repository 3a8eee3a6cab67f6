//go:build cgo && linux

// Package chdb runs SQL in chDB, ClickHouse as a shared library
// (libchdb.so, e.g. from npm's @chdb/lib-linux-x64-gnu), loaded at run time
// with dlopen, so that tests can check Pulse's SQL against a current
// ClickHouse without a server. Nothing links against the library at build
// time; without it, Open fails and the tests that need it skip.
package chdb

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef struct { void *internal_data; } chdb_result;
typedef struct chdb_connection_ { void *internal_data; } *chdb_connection;

static void *lib;
static chdb_connection *(*f_connect)(int, char **);
static void (*f_close)(chdb_connection *);
static chdb_result *(*f_query)(chdb_connection, const char *, const char *);
static void (*f_destroy)(chdb_result *);
static char *(*f_buffer)(chdb_result *);
static size_t (*f_length)(chdb_result *);
static const char *(*f_error)(chdb_result *);

static const char *load(const char *path) {
	if (lib) return NULL;
	void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
	if (!h) return dlerror();
	f_connect = dlsym(h, "chdb_connect");
	f_close = dlsym(h, "chdb_close_conn");
	f_query = dlsym(h, "chdb_query");
	f_destroy = dlsym(h, "chdb_destroy_query_result");
	f_buffer = dlsym(h, "chdb_result_buffer");
	f_length = dlsym(h, "chdb_result_length");
	f_error = dlsym(h, "chdb_result_error");
	if (!f_connect || !f_close || !f_query || !f_destroy || !f_buffer || !f_length || !f_error)
		return "libchdb: a chdb_* symbol is missing (chDB too old?)";
	lib = h;
	return NULL;
}

static chdb_connection *do_connect(int argc, char **argv) { return f_connect(argc, argv); }
static void do_close(chdb_connection *c) { f_close(c); }
static chdb_result *do_query(chdb_connection *c, const char *q, const char *fmt) { return f_query(*c, q, fmt); }
static void do_destroy(chdb_result *r) { f_destroy(r); }
static char *do_buffer(chdb_result *r) { return f_buffer(r); }
static size_t do_length(chdb_result *r) { return f_length(r); }
static const char *do_error(chdb_result *r) { return f_error(r); }
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// Conn is the process's one chDB session (chDB allows one at a time).
type Conn struct {
	mu sync.Mutex
	c  *C.chdb_connection
}

var (
	openMu sync.Mutex
	open   bool
)

// Open loads the library at libPath and opens a session storing its
// databases in dir.
func Open(libPath, dir string) (*Conn, error) {
	openMu.Lock()
	defer openMu.Unlock()
	if open {
		return nil, errors.New("chdb: a session is already open")
	}
	cpath := C.CString(libPath)
	defer C.free(unsafe.Pointer(cpath))
	if msg := C.load(cpath); msg != nil {
		return nil, fmt.Errorf("chdb: load %s: %s", libPath, C.GoString(msg))
	}
	args := []string{"clickhouse", "--path=" + dir}
	argv := make([]*C.char, len(args))
	for i, a := range args {
		argv[i] = C.CString(a)
		defer C.free(unsafe.Pointer(argv[i]))
	}
	c := C.do_connect(C.int(len(args)), &argv[0])
	if c == nil {
		return nil, errors.New("chdb: connect failed")
	}
	open = true
	return &Conn{c: c}, nil
}

// Query runs one statement and returns its output in format (e.g.
// "TabSeparated"), or the server's error.
func (c *Conn) Query(sql, format string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q, f := C.CString(sql), C.CString(format)
	defer C.free(unsafe.Pointer(q))
	defer C.free(unsafe.Pointer(f))
	r := C.do_query(c.c, q, f)
	if r == nil {
		return "", errors.New("chdb: query returned no result")
	}
	defer C.do_destroy(r)
	if msg := C.do_error(r); msg != nil {
		return "", fmt.Errorf("chdb: %s", C.GoString(msg))
	}
	n := C.do_length(r)
	if n == 0 {
		return "", nil
	}
	return C.GoStringN(C.do_buffer(r), C.int(n)), nil
}

// Close ends the session.
func (c *Conn) Close() {
	openMu.Lock()
	defer openMu.Unlock()
	C.do_close(c.c)
	open = false
}
