// Package server is the reference server's composition root and process
// plumbing: configuration from flags and HISTORIA_* environment variables,
// the signing keys, the database pool, the migrations and the Citus plan
// of both libraries, and Handler, which builds the services and use cases
// (app), the HTTP kernel (web) and mounts on it the role pages
// (web/pages) and the JSON API (web/api); Serve runs it with a graceful
// shutdown. Its tests run every role's workflow through HTTP, on
// PostgreSQL and on Citus.
//
//	h, err := server.Handler(ctx, log, pool, keys, cfg, tenant)
//	err = server.Serve(ctx, log, ln, h, tlsCfg, cfg.ShutdownTimeout)
package server
