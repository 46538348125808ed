package citus_test

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/citus"
)

// fixtureSchema mirrors the shape of Historia's EHR schema: a reference
// table of tenants, patients distributed by patient_id, notes and their
// amendments colocated with patients under composite primary and foreign
// keys that carry patient_id, a uniqueness table distributed by the
// unique value, and a code list as a second reference table.
const fixtureSchema = `
CREATE TABLE tenants (
	tenant_id uuid PRIMARY KEY,
	name      text NOT NULL UNIQUE
);
CREATE TABLE icd10_codes (
	code  text PRIMARY KEY,
	title text NOT NULL
);
CREATE TABLE patients (
	patient_id uuid PRIMARY KEY,
	tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id),
	name       text NOT NULL
);
CREATE TABLE notes (
	patient_id uuid NOT NULL,
	note_id    uuid NOT NULL,
	tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id),
	body       text NOT NULL,
	amends     uuid,
	PRIMARY KEY (patient_id, note_id),
	FOREIGN KEY (patient_id) REFERENCES patients (patient_id) ON DELETE CASCADE,
	FOREIGN KEY (patient_id, amends) REFERENCES notes (patient_id, note_id)
);
CREATE UNIQUE INDEX notes_tenant_note ON notes (patient_id, tenant_id, note_id);
CREATE TABLE conditions (
	patient_id uuid NOT NULL,
	condition_id uuid NOT NULL,
	note_id    uuid,
	code       text NOT NULL REFERENCES icd10_codes (code),
	PRIMARY KEY (patient_id, condition_id),
	FOREIGN KEY (patient_id, note_id) REFERENCES notes (patient_id, note_id)
);
CREATE TABLE patient_documents (
	document_number text NOT NULL,
	tenant_id       uuid NOT NULL REFERENCES tenants (tenant_id),
	patient_id      uuid NOT NULL,
	PRIMARY KEY (document_number, tenant_id)
);
`

// fixturePlan distributes fixtureSchema.
var fixturePlan = citus.Plan{
	Reference: []string{"tenants", "icd10_codes"},
	Distributed: []citus.Table{
		{Name: "patients", Column: "patient_id"},
		{Name: "notes", Column: "patient_id", ColocateWith: "patients"},
		{Name: "conditions", Column: "patient_id", ColocateWith: "notes"},
		{Name: "patient_documents", Column: "document_number"},
	},
}

func setupFixture(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, fixtureSchema)
	return err
}
