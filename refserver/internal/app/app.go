package app

import (
	"io"
	"log/slog"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/rbac"
)

// Config is what New needs.
type Config struct {
	// Auth authenticates (login, sessions, bearer tokens). The server
	// needs it; the command line and the demo leave it nil.
	Auth *auth.Service
	// Users is auth's user store (Auth.Users() when Auth is set).
	Users *auth.Store
	// Records is the patient-record repository.
	Records *ehr.Repository
	// DB is what Directory reads the staff directory through (the pool).
	DB Querier
	// Policy is the policy the repository decides with; nil is
	// rbac.Default().
	Policy *rbac.Engine
	// Logger logs the use cases' events (ids only); nil discards.
	Logger *slog.Logger
	// Tenant is the tenant a patient activates an account in when the
	// activation names none (the login form's default tenant).
	Tenant string
	// ActivationLimiter limits activation attempts per client; nil is
	// ActivationAttempts a minute.
	ActivationLimiter auth.Limiter
}

// App is the server's services and use cases, made once by New and never
// changed after.
type App struct {
	// Auth authenticates; nil outside the server.
	Auth *auth.Service
	// Records is the patient-record repository: the pages and the API
	// call it directly, with the caller's context (NewContext).
	Records *ehr.Repository
	// Policy decides what the pages offer (the repository decides what is
	// allowed).
	Policy *rbac.Engine
	// Staff manages user accounts.
	Staff *Staff
	// Directory resolves the names the pages show.
	Directory *Directory
	// Activations links portal accounts to patients (activation codes).
	Activations *Activations

	matrix rbac.Matrix
}

// New returns the App of cfg.
func New(cfg Config) *App {
	if cfg.Policy == nil {
		cfg.Policy = rbac.Default()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Users == nil && cfg.Auth != nil {
		cfg.Users = cfg.Auth.Users()
	}
	a := &App{Auth: cfg.Auth, Records: cfg.Records, Policy: cfg.Policy, matrix: cfg.Policy.Matrix()}
	a.Staff = &Staff{users: cfg.Users, records: cfg.Records, policy: cfg.Policy, roles: a.matrix.Roles, log: cfg.Logger}
	if cfg.ActivationLimiter == nil {
		cfg.ActivationLimiter = activationLimiter()
	}
	a.Activations = &Activations{users: cfg.Users, records: cfg.Records, limiter: cfg.ActivationLimiter, tenant: cfg.Tenant, log: cfg.Logger}
	a.Directory = &Directory{db: cfg.DB, records: cfg.Records, log: cfg.Logger, tenants: map[string]string{}}
	return a
}

// Can reports whether one of c's roles might take action act on kind k:
// what a page offers. The repository still decides each request.
func (a *App) Can(c Caller, act rbac.Action, k rbac.Kind) bool {
	return a.matrix.CanAny(c.Roles, act, k)
}
