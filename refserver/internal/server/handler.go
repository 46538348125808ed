package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/protocol/fhir"
	"github.com/historiaehr/historia/refserver/internal/web"
	"github.com/historiaehr/historia/refserver/internal/web/api"
	"github.com/historiaehr/historia/refserver/internal/web/pages"
)

// Keys returns the token key set: the key files named (oldest first, the
// signing key last), or an ephemeral Ed25519 key when none is named.
func Keys(signingKeyFile, verifyKeyFiles string) (*auth.KeySet, error) {
	if signingKeyFile == "" {
		k, err := auth.GenerateKey(auth.EdDSA)
		if err != nil {
			return nil, err
		}
		return auth.NewKeySet(auth.EdDSA, k)
	}
	var paths []string
	for _, p := range strings.Split(verifyKeyFiles, ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	paths = append(paths, signingKeyFile)
	k, err := auth.LoadKeyFile(signingKeyFile)
	if err != nil {
		return nil, err
	}
	return auth.LoadKeySet(k.Algorithm(), paths...)
}

// DefaultTenant returns the only tenant of the database, the one the login
// form signs into when it names none.
func DefaultTenant(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	rows, err := pool.Query(ctx, "SELECT id::text FROM tenants ORDER BY created_at LIMIT 2")
	if err != nil {
		return "", fmt.Errorf("tenants: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	if len(ids) == 1 {
		return ids[0], rows.Err()
	}
	return "", rows.Err()
}

// Handler builds the whole HTTP handler over pool: the services and use
// cases (app), the HTTP kernel (web) and what it mounts, the role pages
// and the JSON API. It is the server's composition root; protocol
// front-ends (FHIR, package protocol) will be mounted here the same way.
func Handler(ctx context.Context, log *slog.Logger, pool *pgxpool.Pool, keys *auth.KeySet, cfg Config, tenant string) (*web.Router, error) {
	if keys == nil {
		return nil, errors.New("no signing keys")
	}
	mfa, tenantMFA := cfg.MFAPolicies()
	passkeys, err := cfg.WebAuthnConfig()
	if err != nil {
		return nil, err
	}
	svc, err := auth.NewService(pool, keys, auth.Config{Issuer: cfg.Issuer, Audience: cfg.Issuer, IdleTimeout: cfg.IdleTimeout,
		DefaultTenant: tenant, Logger: log, Limiter: cfg.LoginLimiter, Clock: cfg.Clock,
		MFAPolicy: mfa, TenantMFAPolicies: tenantMFA, MFAIssuer: "Historia", WebAuthn: passkeys})
	if err != nil {
		return nil, err
	}
	// Logout, disable, password resets and "revoke all" take effect on
	// the next request, on every replica: the revocation set follows
	// PostgreSQL's notifications on a connection of its own, for as long
	// as ctx lives.
	if err := svc.StartRevocationListener(ctx, func(ctx context.Context) (*pgx.Conn, error) {
		return pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	}); err != nil {
		return nil, fmt.Errorf("revocation listener: %w", err)
	}
	engine := rbac.Default()
	a := app.New(app.Config{Auth: svc, Records: ehr.NewRepository(pool, ehr.WithAuthorizer(engine)), DB: pool, Policy: engine, Logger: log, Tenant: tenant})
	metrics := web.NewMetrics()
	metrics.Registry.MustRegister(web.NewPoolCollector(pool.Stat))
	metrics.WatchSpraying(svc.SprayingAlerts)
	rt := web.New(web.Config{Logger: log, Metrics: metrics, MetricsToken: cfg.MetricsToken, IdleTimeout: cfg.IdleTimeout, TLS: cfg.TLSCertFile != "",
		Ready: func(ctx context.Context) error {
			if err := pool.Ping(ctx); err != nil {
				return err
			}
			return SchemaCurrent(ctx, pool)
		}, App: a})
	pages.Mount(rt, a)
	api.Mount(rt, a)
	fhir.Mount(rt, a, fhir.Options{Narrow: cfg.FHIRNarrow, Context: ctx, ExportDir: cfg.ExportDir})
	return rt, nil
}
