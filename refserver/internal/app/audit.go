package app

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
)

// ErrChainsBroken is returned by VerifyAudit when a chain fails.
var ErrChainsBroken = errors.New("audit chains broken")

// VerifyAudit verifies the audit hash chains of the database: one
// patient's (patient non-empty), or every tenant's own chain and every
// patient's chain. It acts, in each tenant, as an auditor principal built
// from the tenant row (user OperatorUser), so each verification is itself
// audited on that tenant's chain. It writes one line per broken chain and
// a summary to out, and returns an error wrapping ErrChainsBroken when
// any chain is broken.
func VerifyAudit(ctx context.Context, pool *pgxpool.Pool, patient string, out io.Writer) error {
	repo := ehr.NewRepository(pool)
	as := func(tenant string) context.Context {
		c := Operator(tenant, RoleAuditor)
		c.RequestID = "audit-verify"
		return NewContext(ctx, c)
	}
	type chain struct{ tenant, id string }
	var chains []chain
	if patient != "" {
		var tenant string
		err := pool.QueryRow(ctx, "SELECT tenant_id::text FROM patients WHERE patient_id::text = $1", patient).Scan(&tenant)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("patient %s: %w", patient, ehr.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("find patient: %w", err)
		}
		chains = append(chains, chain{tenant, patient})
	} else {
		rows, err := pool.Query(ctx, `SELECT t.id::text, t.id::text, 0 AS o FROM tenants t
UNION ALL SELECT p.tenant_id::text, p.patient_id::text, 1 FROM patients p ORDER BY 1, 3, 2`)
		if err != nil {
			return fmt.Errorf("list chains: %w", err)
		}
		for rows.Next() {
			var c chain
			var o int
			if err := rows.Scan(&c.tenant, &c.id, &o); err != nil {
				rows.Close()
				return err
			}
			chains = append(chains, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list chains: %w", err)
		}
	}
	broken := 0
	var events int64
	tenants := map[string]bool{}
	for _, c := range chains {
		tenants[c.tenant] = true
		st, err := repo.VerifyChain(as(c.tenant), c.id)
		var ce *ehr.ChainError
		switch {
		case errors.As(err, &ce):
			broken++
			fmt.Fprintf(out, "BROKEN tenant %s: %s\n", c.tenant, ce.Error())
		case err != nil:
			return fmt.Errorf("verify chain %s: %w", c.id, err)
		default:
			events += st.Events
			if patient != "" {
				fmt.Fprintf(out, "ok chain %s: %d events, head %x\n", c.id, st.Events, st.Head)
			}
		}
	}
	fmt.Fprintf(out, "verified %d chains of %d tenants (%d events): %d broken\n", len(chains), len(tenants), events, broken)
	if broken > 0 {
		return fmt.Errorf("%w: %d of %d", ErrChainsBroken, broken, len(chains))
	}
	return nil
}
