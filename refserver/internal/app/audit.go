package app

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/fhir"
)

// ErrChainsBroken is returned by VerifyAudit when a chain fails.
var ErrChainsBroken = errors.New("audit chains broken")

// VerifyAudit verifies the audit hash chains of the database: one
// patient's (patient non-empty), or every tenant's own chains (all its
// lanes, ehr.TenantChains: ehr.Repository.VerifyChain of the tenant id)
// and every patient's chain. It acts, in each tenant, as an auditor
// principal built from the tenant row (user OperatorUser), so each
// verification is itself audited on that tenant's chain (the operator's
// lane). It writes one line per broken chain and a summary to out, and
// returns an error wrapping ErrChainsBroken when any chain is broken.
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
	broken, verified := 0, 0
	var events int64
	tenants := map[string]bool{}
	for _, c := range chains {
		tenants[c.tenant] = true
		st, err := repo.VerifyChain(as(c.tenant), c.id)
		var ce *ehr.ChainError
		switch {
		case errors.As(err, &ce):
			// A tenant's trail stops at its first broken lane, which the
			// error names.
			broken++
			verified++
			fmt.Fprintf(out, "BROKEN tenant %s: %s\n", c.tenant, ce.Error())
		case err != nil:
			return fmt.Errorf("verify chain %s: %w", c.id, err)
		default:
			events += st.Events
			verified += max(1, len(st.Lanes))
			if patient != "" {
				fmt.Fprintf(out, "ok chain %s: %d events, head %x\n", c.id, st.Events, st.Head)
			}
		}
	}
	fmt.Fprintf(out, "verified %d chains of %d tenants (%d events): %d broken\n", verified, len(tenants), events, broken)
	if broken > 0 {
		return fmt.Errorf("%w: %d of %d", ErrChainsBroken, broken, verified)
	}
	return nil
}

// ExportAudit writes the audit trail as FHIR R4 AuditEvents, one JSON
// resource a line (ndjson): one patient's chain with patient, else every
// event of every tenant, those of every lane of the tenant's own chains
// included (a search of the whole tenant). Each event carries its chain
// id, sequence number and both hashes (package fhir), so VerifyAuditFile
// can recompute every chain from the file alone. It reads as an operator
// auditor of each tenant (SearchAudit), so the export is itself recorded
// on each tenant's chain (the operator's lane), after the events it
// exported. It returns the number of events written.
func ExportAudit(ctx context.Context, pool *pgxpool.Pool, patient string, out io.Writer) (int, error) {
	repo := ehr.NewRepository(pool)
	var tenants []string
	if patient != "" {
		var tenant string
		err := pool.QueryRow(ctx, "SELECT tenant_id::text FROM patients WHERE patient_id::text = $1", patient).Scan(&tenant)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("patient %s: %w", patient, ehr.ErrNotFound)
		}
		if err != nil {
			return 0, fmt.Errorf("find patient: %w", err)
		}
		tenants = append(tenants, tenant)
	} else {
		rows, err := pool.Query(ctx, "SELECT id::text FROM tenants ORDER BY id")
		if err != nil {
			return 0, fmt.Errorf("list tenants: %w", err)
		}
		if tenants, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return 0, fmt.Errorf("list tenants: %w", err)
		}
	}
	n := 0
	for _, tenant := range tenants {
		c := Operator(tenant, RoleAuditor)
		c.RequestID = "audit-export"
		actx := NewContext(ctx, c)
		q := ehr.AuditQuery{ChainID: patient, Limit: 500}
		for {
			page, err := repo.SearchAudit(actx, q)
			if err != nil {
				return n, fmt.Errorf("export tenant %s: %w", tenant, err)
			}
			for _, e := range page.Events {
				b, err := fhir.EncodeAuditEvent(e)
				if err != nil {
					return n, fmt.Errorf("export event %s: %w", e.ID, err)
				}
				if _, err := out.Write(append(b, '\n')); err != nil {
					return n, err
				}
				n++
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	return n, nil
}

// VerifyAuditFile recomputes every audit chain in an export of
// ExportAudit (ndjson of FHIR AuditEvents) with no database, writes one
// line per chain and a summary, and returns an error wrapping
// ErrChainsBroken when a chain is broken (the first break is named).
func VerifyAuditFile(in io.Reader, out io.Writer) error {
	var resources [][]byte
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			resources = append(resources, bytes.Clone(line))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read export: %w", err)
	}
	chains, err := fhir.VerifyAuditTrail(resources)
	var ce *ehr.ChainError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(out, "BROKEN %s\n", ce.Error())
		return fmt.Errorf("%w: %v", ErrChainsBroken, ce)
	case err != nil:
		return fmt.Errorf("export: %w", err)
	}
	var events int64
	for _, st := range chains {
		events += st.Events
		fmt.Fprintf(out, "ok chain %s: %d events, head %x\n", st.ChainID, st.Events, st.Head)
	}
	fmt.Fprintf(out, "verified %d chains (%d events) from the export: 0 broken\n", len(chains), events)
	return nil
}
