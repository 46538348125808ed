package server

import (
	"context"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/refserver/internal/app"
)

// OperatorUser is the user id the command line acts as (app.OperatorUser):
// the audit trail records its verifications under this name.
const OperatorUser = app.OperatorUser

// ErrChainsBroken is app.ErrChainsBroken.
var ErrChainsBroken = app.ErrChainsBroken

// VerifyAudit is app.VerifyAudit, for `historia audit verify`.
func VerifyAudit(ctx context.Context, pool *pgxpool.Pool, patient string, out io.Writer) error {
	return app.VerifyAudit(ctx, pool, patient, out)
}
