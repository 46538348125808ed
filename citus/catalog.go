package citus

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// catalog is what Check and Apply read from PostgreSQL's own catalog about
// the tables of a plan. It needs no Citus.
type catalog struct {
	rels        map[string]relation // by key(plan name)
	byOID       map[uint32]string   // oid -> key(plan name)
	columns     map[uint32]map[string]string
	constraints []constraint
	indexes     []uniqueIndex
}

type relation struct {
	oid     uint32
	exists  bool
	kind    string // pg_class.relkind
	display string // oid::regclass::text
}

type constraint struct {
	name     string
	kind     string // p, u, x or f
	rel      uint32
	relName  string
	cols     []string
	ref      uint32
	refName  string
	refCols  []string
	onUpdate string
	onDelete string
}

type uniqueIndex struct {
	name string
	rel  uint32
	cols []string
}

const sqlResolve = `SELECT n.name, c.oid, coalesce(c.oid::regclass::text, ''), coalesce(c.relkind::text, '')
FROM unnest($1::text[]) WITH ORDINALITY AS n(name, ord)
LEFT JOIN pg_class c ON c.oid = to_regclass(n.name)
ORDER BY n.ord`

const sqlColumns = `SELECT attrelid, attname::text, atttypid::regtype::text
FROM pg_attribute
WHERE attrelid = ANY($1::oid[]) AND attnum > 0 AND NOT attisdropped`

// sqlConstraints lists primary keys, unique, exclusion and foreign key
// constraints on the plan's tables and foreign keys pointing at them, with
// their columns in key order. Constraints cloned onto partitions
// (conparentid <> 0) are left out: the parent's constraint stands for them.
const sqlConstraints = `SELECT c.conname::text, c.contype::text, c.conrelid, c.conrelid::regclass::text,
	ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(num, ord)
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.ord),
	c.confrelid, CASE WHEN c.confrelid = 0 THEN '' ELSE c.confrelid::regclass::text END,
	ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(num, ord)
		JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.ord),
	c.confupdtype::text, c.confdeltype::text
FROM pg_constraint c
WHERE c.contype IN ('p', 'u', 'x', 'f') AND c.conparentid = 0
	AND (c.conrelid = ANY($1::oid[]) OR c.confrelid = ANY($1::oid[]))
ORDER BY c.conrelid::regclass::text, c.conname`

// sqlUniqueIndexes lists unique indexes that back no constraint (made by
// CREATE UNIQUE INDEX), with their key columns; an expression column
// appears as "(expression)".
const sqlUniqueIndexes = `SELECT i.indexrelid::regclass::text, i.indrelid,
	ARRAY(SELECT coalesce(a.attname::text, '(expression)') FROM unnest(i.indkey) WITH ORDINALITY AS k(num, ord)
		LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num
		WHERE k.ord <= i.indnkeyatts ORDER BY k.ord)
FROM pg_index i
WHERE i.indisunique AND i.indrelid = ANY($1::oid[])
	AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
ORDER BY 1`

func loadCatalog(ctx context.Context, q Querier, p Plan) (*catalog, error) {
	names := make([]string, 0, len(p.Reference)+len(p.Distributed))
	names = append(names, p.Reference...)
	for _, t := range p.Distributed {
		names = append(names, t.Name)
	}
	c := &catalog{rels: map[string]relation{}, byOID: map[uint32]string{}, columns: map[uint32]map[string]string{}}
	rows, err := q.Query(ctx, sqlResolve, names)
	if err != nil {
		return nil, fmt.Errorf("citus: resolve tables: %w", err)
	}
	var oids []uint32
	for rows.Next() {
		var name string
		var oid *uint32
		var r relation
		if err := rows.Scan(&name, &oid, &r.display, &r.kind); err != nil {
			rows.Close()
			return nil, fmt.Errorf("citus: resolve tables: %w", err)
		}
		if oid != nil {
			r.oid, r.exists = *oid, true
			if _, dup := c.byOID[r.oid]; !dup {
				oids = append(oids, r.oid)
				c.byOID[r.oid] = key(name)
			}
		}
		c.rels[key(name)] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("citus: resolve tables: %w", err)
	}

	rows, err = q.Query(ctx, sqlColumns, oids)
	if err != nil {
		return nil, fmt.Errorf("citus: read columns: %w", err)
	}
	for rows.Next() {
		var rel uint32
		var col, typ string
		if err := rows.Scan(&rel, &col, &typ); err != nil {
			rows.Close()
			return nil, fmt.Errorf("citus: read columns: %w", err)
		}
		if c.columns[rel] == nil {
			c.columns[rel] = map[string]string{}
		}
		c.columns[rel][col] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("citus: read columns: %w", err)
	}

	rows, err = q.Query(ctx, sqlConstraints, oids)
	if err != nil {
		return nil, fmt.Errorf("citus: read constraints: %w", err)
	}
	c.constraints, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (constraint, error) {
		var k constraint
		err := r.Scan(&k.name, &k.kind, &k.rel, &k.relName, &k.cols, &k.ref, &k.refName, &k.refCols, &k.onUpdate, &k.onDelete)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("citus: read constraints: %w", err)
	}

	rows, err = q.Query(ctx, sqlUniqueIndexes, oids)
	if err != nil {
		return nil, fmt.Errorf("citus: read unique indexes: %w", err)
	}
	c.indexes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (uniqueIndex, error) {
		var u uniqueIndex
		err := r.Scan(&u.name, &u.rel, &u.cols)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("citus: read unique indexes: %w", err)
	}
	return c, nil
}

// dependencies returns, for each table of the plan (by key), the other
// tables of the plan it has a foreign key to: they must be distributed or
// made reference tables first.
func (c *catalog) dependencies() map[string][]string {
	deps := map[string][]string{}
	for _, k := range c.constraints {
		if k.kind != "f" || k.rel == k.ref {
			continue
		}
		from, ok1 := c.byOID[k.rel]
		to, ok2 := c.byOID[k.ref]
		if ok1 && ok2 {
			deps[from] = append(deps[from], to)
		}
	}
	return deps
}
