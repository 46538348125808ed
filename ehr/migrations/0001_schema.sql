-- Historia ehr schema, version 1.
--
-- Citus layout (see ehr.DistributionPlan): tenants and practitioners are
-- reference tables; every patient table is distributed by patient_id and
-- colocated with patients, so its primary key, unique constraints and
-- foreign keys all include patient_id. Uniqueness across patients lives in
-- tables distributed by the unique value (patient_identifiers by value,
-- appointment_slots by practitioner_id).
--
-- Versioned tables carry version, updated_at, updated_by and change_reason;
-- every write stores a snapshot of the new row in record_versions.

CREATE TABLE tenants (
    id         uuid        NOT NULL PRIMARY KEY,
    name       text        NOT NULL CHECK (name <> ''),
    created_at timestamptz NOT NULL
);

CREATE TABLE practitioners (
    id         uuid        NOT NULL PRIMARY KEY,
    tenant_id  uuid        NOT NULL REFERENCES tenants (id),
    user_id    uuid        NOT NULL,
    name       text        NOT NULL,
    specialty  text        NOT NULL DEFAULT '',
    license    text        NOT NULL DEFAULT '',
    active     boolean     NOT NULL DEFAULT true,
    version    integer     NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT practitioners_user_key UNIQUE (tenant_id, user_id)
);

CREATE TABLE patients (
    tenant_id              uuid        NOT NULL REFERENCES tenants (id),
    patient_id             uuid        NOT NULL PRIMARY KEY,
    document_type          text        NOT NULL,
    document_number        text        NOT NULL,
    identifiers            jsonb       NOT NULL DEFAULT '[]',
    given_names            text        NOT NULL,
    family_names           text        NOT NULL,
    search_name            text        NOT NULL,
    sort_key               text        COLLATE "C" NOT NULL,
    birth_date             date        NOT NULL,
    sex                    text        NOT NULL,
    phone                  text        NOT NULL DEFAULT '',
    email                  text        NOT NULL DEFAULT '',
    address                text        NOT NULL DEFAULT '',
    emergency_name         text        NOT NULL DEFAULT '',
    emergency_phone        text        NOT NULL DEFAULT '',
    emergency_relationship text        NOT NULL DEFAULT '',
    status                 text        NOT NULL DEFAULT 'active',
    change_reason          text        NOT NULL DEFAULT '',
    version                integer     NOT NULL,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    updated_by             text        NOT NULL
);
CREATE INDEX patients_tenant_sort_idx ON patients (tenant_id, sort_key, patient_id);
CREATE INDEX patients_tenant_birth_idx ON patients (tenant_id, birth_date);

-- One row per identifier value (the document and any other identifier):
-- the uniqueness of an identifier inside a tenant, and the lookup from a
-- number to the patient. Distributed by value.
CREATE TABLE patient_identifiers (
    tenant_id  uuid NOT NULL,
    system     text NOT NULL,
    value      text NOT NULL,
    patient_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, system, value)
);
CREATE INDEX patient_identifiers_value_idx ON patient_identifiers (value, tenant_id);

CREATE TABLE encounters (
    tenant_id       uuid        NOT NULL,
    patient_id      uuid        NOT NULL REFERENCES patients (patient_id),
    id              uuid        NOT NULL,
    class           text        NOT NULL,
    status          text        NOT NULL,
    practitioner_id uuid        REFERENCES practitioners (id),
    ward            text        NOT NULL DEFAULT '',
    bed             text        NOT NULL DEFAULT '',
    reason          text        NOT NULL DEFAULT '',
    disposition     text        NOT NULL DEFAULT '',
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    change_reason   text        NOT NULL DEFAULT '',
    version         integer     NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      text        NOT NULL,
    PRIMARY KEY (patient_id, id)
);
-- A patient has at most one open admission.
CREATE UNIQUE INDEX encounters_one_admission_idx ON encounters (patient_id)
    WHERE class = 'inpatient' AND status = 'in-progress';
CREATE INDEX encounters_tenant_open_idx ON encounters (tenant_id, started_at)
    WHERE status = 'in-progress';

CREATE TABLE appointments (
    tenant_id       uuid        NOT NULL,
    patient_id      uuid        NOT NULL REFERENCES patients (patient_id),
    id              uuid        NOT NULL,
    practitioner_id uuid        NOT NULL REFERENCES practitioners (id),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    status          text        NOT NULL,
    reason          text        NOT NULL DEFAULT '',
    change_reason   text        NOT NULL DEFAULT '',
    version         integer     NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      text        NOT NULL,
    PRIMARY KEY (patient_id, id),
    CHECK (ends_at > starts_at)
);
CREATE INDEX appointments_practitioner_idx ON appointments (tenant_id, practitioner_id, starts_at);

-- The slots an appointment holds: one row per SlotDuration of a
-- practitioner's time. The primary key forbids double booking without
-- any extension; cancelling releases the rows. Distributed by
-- practitioner_id.
CREATE TABLE appointment_slots (
    tenant_id       uuid        NOT NULL,
    practitioner_id uuid        NOT NULL REFERENCES practitioners (id),
    slot_start      timestamptz NOT NULL,
    patient_id      uuid        NOT NULL,
    appointment_id  uuid        NOT NULL,
    PRIMARY KEY (practitioner_id, slot_start)
);

CREATE TABLE care_team_members (
    tenant_id       uuid        NOT NULL,
    patient_id      uuid        NOT NULL REFERENCES patients (patient_id),
    id              uuid        NOT NULL,
    practitioner_id uuid        NOT NULL REFERENCES practitioners (id),
    user_id         uuid        NOT NULL,
    role            text        NOT NULL,
    reason          text        NOT NULL DEFAULT '',
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz,
    status          text        NOT NULL,
    change_reason   text        NOT NULL DEFAULT '',
    version         integer     NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      text        NOT NULL,
    PRIMARY KEY (patient_id, id)
);
CREATE INDEX care_team_members_user_idx ON care_team_members (patient_id, user_id) WHERE status = 'active';
CREATE INDEX care_team_members_tenant_user_idx ON care_team_members (tenant_id, user_id) WHERE status = 'active';

CREATE TABLE clinical_notes (
    tenant_id     uuid        NOT NULL,
    patient_id    uuid        NOT NULL REFERENCES patients (patient_id),
    id            uuid        NOT NULL,
    encounter_id  uuid,
    author_id     text        NOT NULL,
    title         text        NOT NULL,
    body          text        NOT NULL,
    status        text        NOT NULL,
    signed_at     timestamptz,
    signed_by     text        NOT NULL DEFAULT '',
    change_reason text        NOT NULL DEFAULT '',
    version       integer     NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text        NOT NULL,
    PRIMARY KEY (patient_id, id),
    FOREIGN KEY (patient_id, encounter_id) REFERENCES encounters (patient_id, id)
);

CREATE TABLE conditions (
    tenant_id     uuid        NOT NULL,
    patient_id    uuid        NOT NULL REFERENCES patients (patient_id),
    id            uuid        NOT NULL,
    encounter_id  uuid,
    code          text        NOT NULL,
    display       text        NOT NULL,
    status        text        NOT NULL,
    onset_date    date,
    note          text        NOT NULL DEFAULT '',
    recorded_by   text        NOT NULL,
    change_reason text        NOT NULL DEFAULT '',
    version       integer     NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text        NOT NULL,
    PRIMARY KEY (patient_id, id),
    FOREIGN KEY (patient_id, encounter_id) REFERENCES encounters (patient_id, id)
);

CREATE TABLE allergies (
    tenant_id     uuid        NOT NULL,
    patient_id    uuid        NOT NULL REFERENCES patients (patient_id),
    id            uuid        NOT NULL,
    substance     text        NOT NULL,
    reaction      text        NOT NULL DEFAULT '',
    severity      text        NOT NULL,
    status        text        NOT NULL,
    recorded_by   text        NOT NULL,
    change_reason text        NOT NULL DEFAULT '',
    version       integer     NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text        NOT NULL,
    PRIMARY KEY (patient_id, id)
);

CREATE TABLE medication_requests (
    tenant_id     uuid        NOT NULL,
    patient_id    uuid        NOT NULL REFERENCES patients (patient_id),
    id            uuid        NOT NULL,
    encounter_id  uuid,
    medication    text        NOT NULL,
    dose          numeric     NOT NULL CHECK (dose > 0),
    dose_unit     text        NOT NULL,
    route         text        NOT NULL,
    frequency     text        NOT NULL,
    status        text        NOT NULL,
    starts_on     date,
    ends_on       date,
    note          text        NOT NULL DEFAULT '',
    prescriber_id text        NOT NULL,
    change_reason text        NOT NULL DEFAULT '',
    version       integer     NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text        NOT NULL,
    PRIMARY KEY (patient_id, id),
    FOREIGN KEY (patient_id, encounter_id) REFERENCES encounters (patient_id, id)
);

CREATE TABLE observations (
    tenant_id     uuid             NOT NULL,
    patient_id    uuid             NOT NULL REFERENCES patients (patient_id),
    id            uuid             NOT NULL,
    encounter_id  uuid,
    category      text             NOT NULL,
    code          text             NOT NULL,
    display       text             NOT NULL DEFAULT '',
    value         double precision,
    value_text    text             NOT NULL DEFAULT '',
    unit          text             NOT NULL DEFAULT '',
    effective_at  timestamptz      NOT NULL,
    status        text             NOT NULL,
    recorded_by   text             NOT NULL,
    change_reason text             NOT NULL DEFAULT '',
    version       integer          NOT NULL,
    created_at    timestamptz      NOT NULL,
    updated_at    timestamptz      NOT NULL,
    updated_by    text             NOT NULL,
    PRIMARY KEY (patient_id, id),
    FOREIGN KEY (patient_id, encounter_id) REFERENCES encounters (patient_id, id)
);
CREATE INDEX observations_code_idx ON observations (patient_id, code, effective_at);

-- Every version of every versioned record, as written: a JSON snapshot
-- of the row. Append-only.
CREATE TABLE record_versions (
    tenant_id  uuid        NOT NULL,
    patient_id uuid        NOT NULL,
    kind       text        NOT NULL,
    record_id  uuid        NOT NULL,
    version    integer     NOT NULL,
    data       jsonb       NOT NULL,
    changed_at timestamptz NOT NULL,
    changed_by text        NOT NULL,
    reason     text        NOT NULL DEFAULT '',
    PRIMARY KEY (patient_id, kind, record_id, version)
);

CREATE TABLE break_glass_grants (
    tenant_id  uuid        NOT NULL,
    patient_id uuid        NOT NULL REFERENCES patients (patient_id),
    id         uuid        NOT NULL,
    user_id    text        NOT NULL,
    reason     text        NOT NULL,
    granted_at timestamptz NOT NULL,
    not_after  timestamptz NOT NULL,
    request_id text        NOT NULL DEFAULT '',
    ip         text        NOT NULL DEFAULT '',
    PRIMARY KEY (patient_id, id),
    CHECK (not_after > granted_at)
);
CREATE INDEX break_glass_grants_user_idx ON break_glass_grants (patient_id, user_id, not_after);
CREATE INDEX break_glass_grants_tenant_idx ON break_glass_grants (tenant_id, granted_at);

-- The head of each audit chain. A chain is a patient's (patient_id is the
-- patient) or the tenant's own, for events about no one patient
-- (patient_id is the tenant id). Appending an event updates the head
-- under its row lock, which orders the chain.
CREATE TABLE audit_heads (
    tenant_id  uuid   NOT NULL,
    patient_id uuid   NOT NULL PRIMARY KEY,
    seq        bigint NOT NULL,
    prev_hash  bytea  NOT NULL,
    hash       bytea  NOT NULL
);

-- The audit trail. Append-only: the application role has no UPDATE or
-- DELETE on it. hash = sha256(prev_hash || canonical event).
CREATE TABLE audit_events (
    tenant_id   uuid        NOT NULL,
    patient_id  uuid        NOT NULL,
    seq         bigint      NOT NULL,
    id          uuid        NOT NULL,
    occurred_at timestamptz NOT NULL,
    user_id     text        NOT NULL,
    roles       text        NOT NULL,
    action      text        NOT NULL,
    kind        text        NOT NULL,
    record_id   text        NOT NULL DEFAULT '',
    outcome     text        NOT NULL,
    rule        text        NOT NULL DEFAULT '',
    break_glass boolean     NOT NULL DEFAULT false,
    reason      text        NOT NULL DEFAULT '',
    request_id  text        NOT NULL DEFAULT '',
    ip          text        NOT NULL DEFAULT '',
    prev_hash   bytea       NOT NULL,
    hash        bytea       NOT NULL,
    PRIMARY KEY (patient_id, seq)
);
CREATE INDEX audit_events_tenant_time_idx ON audit_events (tenant_id, occurred_at);
