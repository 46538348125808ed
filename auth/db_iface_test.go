package auth_test

import (
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/auth"
)

// A pool, a connection and a transaction all fit the store and Migrate.
var (
	_ auth.DB       = (*pgxpool.Pool)(nil)
	_ auth.DB       = (*pgx.Conn)(nil)
	_ auth.DB       = (pgx.Tx)(nil)
	_ auth.Beginner = (*pgxpool.Pool)(nil)
	_ auth.Beginner = (*pgx.Conn)(nil)
)
