package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/refserver/internal/web"
)

// NewLogger returns the server's JSON logger: every line logged with a
// request's context carries its request id.
func NewLogger(w *os.File, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(web.NewLogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})))
}

// Serve runs the HTTP server for handler on ln until ctx is done, then
// shuts it down gracefully within timeout: it stops accepting, lets
// requests in flight finish, and returns.
func Serve(ctx context.Context, log *slog.Logger, ln net.Listener, handler http.Handler, tlsCfg *tls.Config, timeout time.Duration) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			srv.TLSConfig = tlsCfg
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", timeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// LoadTLS loads the certificate and key, or returns nil when both are
// empty.
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// OpenPool connects to the database and checks it answers.
func OpenPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	return OpenPoolSize(ctx, url, 0)
}

// OpenPoolSize is OpenPool with at most maxConns connections (pgxpool's
// default, or the URL's pool_max_conns, when maxConns is 0).
func OpenPoolSize(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The URL may hold a password: never echo it.
		return nil, errors.New("database url: cannot be parsed")
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database: %w", redact(err, url))
	}
	return pool, nil
}

// redact removes the URL from an error message, so a password in it never
// reaches a log.
func redact(err error, url string) error {
	if url != "" && strings.Contains(err.Error(), url) {
		return errors.New(strings.ReplaceAll(err.Error(), url, "[database-url]"))
	}
	return err
}
