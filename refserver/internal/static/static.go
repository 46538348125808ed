// Package static embeds the server's stylesheet, script and icon. Nothing
// is loaded from a CDN; the Content-Security-Policy allows only 'self'.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed style.css scripts.js favicon.svg favicon.ico
var files embed.FS

// FS returns the embedded files.
func FS() fs.FS { return files }

// version is a short hash of the embedded files, used to bust caches.
var version = func() string {
	h := sha256.New()
	for _, name := range []string{"style.css", "scripts.js", "favicon.svg", "favicon.ico"} {
		b, _ := files.ReadFile(name)
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

// Path returns the URL of the embedded file name under /static/, with a
// version query that changes whenever the files change.
func Path(name string) string { return "/static/" + name + "?v=" + version }

// Handler serves the embedded files under /static/.
func Handler() http.Handler {
	fsrv := http.StripPrefix("/static/", http.FileServerFS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		fsrv.ServeHTTP(w, r)
	})
}

// Favicon serves the icon at /favicon.ico, where browsers look for it
// when a page (an error answer, a JSON document) names none.
func Favicon(w http.ResponseWriter, r *http.Request) {
	b, _ := files.ReadFile("favicon.ico")
	w.Header().Set("Content-Type", "image/x-icon")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(b)
}
