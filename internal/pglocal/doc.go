// Package pglocal starts a private PostgreSQL server from the server
// binaries installed on this machine (Debian's postgresql package, or any
// installation whose bin directory holds initdb and postgres).
//
// It is the launcher behind internal/pgtest's last fallback and behind
// `historia demo`. It is internal to the repository: the reference server
// (module refserver) reaches it because its import path lies under this
// module's, and library users get databases through ehr/ehrtest.
//
// The server listens on 127.0.0.1 only, with no Unix socket, and requires
// a password (SCRAM). When the calling process runs as root, the server
// runs as an unprivileged account (postgres, else nobody), because
// PostgreSQL refuses to run as root.
//
//	inst, err := pglocal.Start(ctx, pglocal.Options{Dir: dir})
//	if err != nil { ... }
//	defer inst.Stop()
//	pool, err := pgxpool.New(ctx, inst.URL("postgres"))
//
// A second Start with the same Dir reuses the cluster and its password.
package pglocal
