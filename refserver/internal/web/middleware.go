package web

import (
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/i18n"
)

// ContentSecurityPolicy is sent with every response: no inline script or
// style, nothing from other origins, no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe is the outermost middleware: it gives the request an id and its
// language, sets the security headers, recovers panics, and after the
// request logs one line (ids only: the path without its query, never a
// form value; the caller once authenticated) and records the metrics
// under the matched route pattern.
func (rt *Router) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := NewRequestID()
		ctx := WithRequestID(r.Context(), id)
		ctx = i18n.NewContext(ctx, i18n.FromRequest(r))
		ctx = app.Expect(ctx)
		r = r.WithContext(ctx)
		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if rt.tls {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				rt.log.ErrorContext(ctx, "panic", "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					rt.writeProblem(sw, r, problemInternal)
				}
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			rt.metrics.observe(r.Pattern, r.Method, status, elapsed.Seconds())
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", r.Pattern),
				slog.Int("status", status),
				slog.Duration("duration", elapsed),
			}
			if c, ok := app.FromContext(ctx); ok {
				attrs = append(attrs, slog.String("user_id", c.UserID), slog.String("tenant_id", c.TenantID))
			}
			rt.log.LogAttrs(ctx, level, "request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

// cleanQuery refuses, with 400, a request whose query string holds text
// that is not clean (searches and filters go to the database).
func (rt *Router) cleanQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			q, _ := url.ParseQuery(r.URL.RawQuery)
			if !cleanValues(q) {
				rt.Fail(w, r, BadRequest("error.badrequest"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// jsonBodies refuses, with 415, a request to the JSON API (/api/) that
// carries a body whose Content-Type is not application/json: the API
// reads JSON only, and a form or text body sent to it is a mistake or a
// cross-site attempt.
func (rt *Router) jsonBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") && (r.ContentLength > 0 || r.ContentLength < 0 || len(r.TransferEncoding) > 0) {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				rt.writeProblem(w, r, problemMediaType)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
