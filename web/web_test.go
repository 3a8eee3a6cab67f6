package web_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/pulsehq/pulse/web"
)

func get(t *testing.T, srv *httptest.Server, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	// Without an explicit Accept-Encoding the transport asks for gzip and
	// decompresses transparently; ask for identity to see raw bodies.
	if req.Header.Get("Accept-Encoding") == "" {
		req.Header.Set("Accept-Encoding", "identity")
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func TestRoutesAndContentTypes(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()

	res, index := get(t, srv, "/", nil)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / = %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("GET / Cache-Control = %q, want no-cache", cc)
	}
	for _, h := range []string{"Content-Security-Policy", "ETag", "X-Content-Type-Options", "Referrer-Policy"} {
		if res.Header.Get(h) == "" {
			t.Errorf("GET / has no %s header", h)
		}
	}
	if strings.Contains(index, "{{") {
		t.Errorf("index.html has unexpanded template actions:\n%s", index)
	}
	if !strings.Contains(index, `<script type="importmap">`) || !strings.Contains(index, `"/assets/js/chart.js":"/assets/js/chart.js?v=`) {
		t.Errorf("index.html has no import map versioning the modules:\n%s", index)
	}
	if res, _ := get(t, srv, "/index.html", nil); res.StatusCode != 200 {
		t.Errorf("GET /index.html = %d", res.StatusCode)
	}

	// Every versioned URL in index.html resolves, with the right type and
	// immutable caching.
	refs := regexp.MustCompile(`(/assets/[^"?]+)\?v=([0-9a-f]+)`).FindAllStringSubmatch(index, -1)
	if len(refs) < 5 {
		t.Fatalf("index.html references %d versioned assets, want at least 5:\n%s", len(refs), index)
	}
	want := map[string]string{
		".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
	}
	for _, m := range refs {
		res, body := get(t, srv, m[0], nil)
		ext := m[1][strings.LastIndex(m[1], "."):]
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != want[ext] || body == "" {
			t.Errorf("GET %s = %d %q (%d bytes), want 200 %q", m[0], res.StatusCode, res.Header.Get("Content-Type"), len(body), want[ext])
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s Cache-Control = %q, want immutable", m[0], cc)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s without nosniff", m[0])
		}
	}

	for path, ctype := range map[string]string{
		"/assets/vendor/d3.min.js":      "text/javascript; charset=utf-8",
		"/assets/vendor/d3.LICENSE.txt": "text/plain; charset=utf-8",
		"/assets/app.css":               "text/css; charset=utf-8",
		"/assets/js/app.js":             "text/javascript; charset=utf-8",
	} {
		res, _ := get(t, srv, path, nil)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != ctype {
			t.Errorf("GET %s = %d %q, want 200 %q", path, res.StatusCode, res.Header.Get("Content-Type"), ctype)
		}
		// Unversioned (or stale) URLs must be revalidated.
		if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s Cache-Control = %q, want no-cache", path, cc)
		}
	}
	if res, _ := get(t, srv, "/assets/app.css?v=stale", nil); res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("stale version cached as %q", res.Header.Get("Cache-Control"))
	}
}

func TestNotFoundAndNoListing(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	for _, p := range []string{
		"/assets/", "/assets/js/", "/assets/vendor", "/assets/index.html", "/static/index.html",
		"/nope", "/assets/nope.js", "/assets/../web.go", "/web.go",
	} {
		res, body := get(t, srv, p, nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404 (body %.80q)", p, res.StatusCode, body)
		}
		if strings.Contains(body, "<a href") {
			t.Errorf("GET %s lists a directory", p)
		}
	}
}

func TestMethods(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	res, err := srv.Client().Post(srv.URL+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST / = %d Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
	head, err := srv.Client().Head(srv.URL + "/assets/app.css")
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != 200 || head.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("HEAD /assets/app.css = %d %q", head.StatusCode, head.Header.Get("Content-Type"))
	}
}

func TestConditionalAndGzip(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	res, plain := get(t, srv, "/assets/vendor/d3.min.js", nil)
	etag := res.Header.Get("ETag")
	if etag == "" || res.Header.Get("Content-Encoding") != "" {
		t.Fatalf("identity response: ETag %q Content-Encoding %q", etag, res.Header.Get("Content-Encoding"))
	}
	if res, _ := get(t, srv, "/assets/vendor/d3.min.js", map[string]string{"If-None-Match": etag}); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", res.StatusCode)
	}

	res, gz := get(t, srv, "/assets/vendor/d3.min.js", map[string]string{"Accept-Encoding": "br, gzip"})
	if res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("gzip response: Content-Encoding %q Vary %q", res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
	}
	if res.Header.Get("ETag") == etag {
		t.Error("gzip and identity responses share an ETag")
	}
	zr, err := gzip.NewReader(strings.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	unz, err := io.ReadAll(zr)
	if err != nil || string(unz) != plain {
		t.Errorf("gzip body does not decompress to the identity body (err %v)", err)
	}
	if res, _ := get(t, srv, "/assets/vendor/d3.min.js", map[string]string{"Accept-Encoding": "gzip;q=0"}); res.Header.Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 still got gzip")
	}
}
