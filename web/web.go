// Package web serves Pulse's dashboard: a single-page app in plain ES
// modules and CSS with D3 vendored under static/vendor, embedded in the
// binary. There is no build step; `go build` is all it takes.
//
// Routes (GET and HEAD only):
//
//	/             the app shell (static/index.html), revalidated on every load
//	/index.html   the same
//	/assets/...   the other files under static/
//
// Asset URLs in index.html carry a content hash (?v=…), and an import map
// gives every ES module the same, so a versioned asset is cached for a
// year as immutable and a new build is picked up at the next page load. An
// unversioned request is served with no-cache and revalidated by ETag.
// Directories are never listed.
//
// To update D3: `npm pack d3@7`, copy package/dist/d3.min.js and
// package/LICENSE to static/vendor/d3.min.js and d3.LICENSE.txt.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"text/template"
	"time"
)

//go:embed static
var staticFS embed.FS

// AssetPrefix is the URL prefix of everything under static/ but index.html.
const AssetPrefix = "/assets/"

// Handler returns the dashboard handler. It is built once; the content is
// embedded, so it cannot fail at run time.
func Handler() http.Handler { return handler() }

var handler = sync.OnceValue(func() *site {
	s, err := newSite(staticFS)
	if err != nil {
		panic("web: " + err.Error()) // the embedded files are broken: a build bug
	}
	return s
})

// asset is one file ready to serve.
type asset struct {
	body    []byte
	gz      []byte // gzip of body, nil when not worth it
	ctype   string
	etag    string // strong, from the content hash
	version string // short content hash used in ?v=
}

type site struct {
	index  *asset
	assets map[string]*asset // by URL path, e.g. /assets/js/app.js
	csp    string
}

// contentTypes are set explicitly rather than from the OS MIME database,
// which differs between machines.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".json":  "application/json",
	".txt":   "text/plain; charset=utf-8",
	".woff2": "font/woff2",
}

func newSite(fsys fs.FS) (*site, error) {
	root, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, err
	}
	s := &site{assets: map[string]*asset{}}
	var indexSrc []byte
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		if p == "index.html" {
			indexSrc = body
			return nil
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("%s: no content type for %q", p, path.Ext(p))
		}
		s.assets[AssetPrefix+p] = newAsset(body, ct)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if indexSrc == nil {
		return nil, fmt.Errorf("static/index.html is missing")
	}
	return s, s.renderIndex(indexSrc)
}

func newAsset(body []byte, ctype string) *asset {
	sum := sha256.Sum256(body)
	a := &asset{body: body, ctype: ctype, version: hex.EncodeToString(sum[:6])}
	a.etag = `"` + hex.EncodeToString(sum[:12]) + `"`
	if compressible(ctype) && len(body) > 1024 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		if buf.Len() < len(body)*9/10 {
			a.gz = buf.Bytes()
		}
	}
	return a
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.HasPrefix(ctype, "application/json") || ctype == "image/svg+xml"
}

// renderIndex expands index.html's {{asset "rel/path"}} (the versioned URL
// of an asset) and {{importmap}} (an import map versioning every module),
// and derives the Content-Security-Policy, which allows the inline import
// map by hash and nothing else inline.
func (s *site) renderIndex(src []byte) error {
	imports := map[string]string{}
	keys := make([]string, 0, len(s.assets))
	for p := range s.assets {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	for _, p := range keys {
		if a := s.assets[p]; strings.HasPrefix(a.ctype, "text/javascript") && !strings.HasPrefix(p, AssetPrefix+"vendor/") {
			imports[p] = p + "?v=" + a.version
		}
	}
	im, err := json.Marshal(map[string]any{"imports": imports})
	if err != nil {
		return err
	}
	importMap := string(im)
	sum := sha256.Sum256([]byte(importMap))
	s.csp = strings.Join([]string{
		"default-src 'self'",
		"script-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'",
		"style-src 'self'",
		"img-src 'self' data:",
		"connect-src 'self'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
		"object-src 'none'",
	}, "; ")

	t, err := template.New("index.html").Funcs(template.FuncMap{
		"asset": func(rel string) (string, error) {
			a, ok := s.assets[AssetPrefix+rel]
			if !ok {
				return "", fmt.Errorf("index.html: unknown asset %q", rel)
			}
			return AssetPrefix + rel + "?v=" + a.version, nil
		},
		"importmap": func() string { return importMap },
	}).Parse(string(src))
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := t.Execute(&out, nil); err != nil {
		return err
	}
	s.index = newAsset(out.Bytes(), contentTypes[".html"])
	return nil
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch p := r.URL.Path; {
	case p == "/" || p == "/index.html":
		h.Set("Content-Security-Policy", s.csp)
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-cache")
		s.index.serve(w, r)
	case strings.HasPrefix(p, AssetPrefix):
		a, ok := s.assets[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if v := r.URL.Query().Get("v"); v != "" && v == a.version {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		a.serve(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	body, etag := a.body, a.etag
	if a.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = a.gz, a.etag[:len(a.etag)-1]+`-gz"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body)) // no Last-Modified: ETag only
}

// acceptsGzip reports whether an Accept-Encoding header lists gzip with a
// non-zero quality.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
