-- Patient search by one word at hospital scale. A one-word name search
-- ("gonz") matches a word prefix that may cover tens of thousands of
-- patients; a page is the first 20 of them in name order. Neither the
-- trigram index (migration 0006: it finds every match, then sorts them)
-- nor the name-ordered index on patients (it walks the table in name
-- order until it has 20 matches) serves that well. This table holds one
-- row per distinct folded word of each patient's names (the words of
-- patients.search_name) with the patient's sort_key, so that the patients
-- having one word are an index range already in the search's order
-- (sort_key, patient_id): SearchPatients reads a page of each word of the
-- prefix and merges them (ehr/namewords.go).
--
-- Patients entered in error have no words (the default search leaves them
-- out); the repository keeps the rows in the transaction of every write
-- of a patient's names or status (RegisterPatient, UpdatePatient,
-- MarkEnteredInError, ImportPatients).
--
-- On Citus the table is distributed by patient_id, colocated with
-- patients: its rows are written with the patient's; a search reads
-- every shard, as the search on patients does.
--
-- No foreign key to patients: the rows are written only with their
-- patient's, in its transaction, and patients are never deleted; a
-- foreign key would cost a lookup of the patient for every word written.
--
-- The rows are copied from patients first and the key made afterwards:
-- one sort, about 3 times faster than inserting into the indexed table.
-- Writes to patients wait until the migration commits (the lock below),
-- so that none is left out of the copy; reads go on. It took 2.3 s for
-- 100,000 patients here (BenchmarkSearchPatients runs it and logs the
-- time). On a Citus cluster already distributed the tables are made on
-- the coordinator from the distributed patients, and `historia citus
-- distribute` distributes them.
LOCK TABLE patients IN SHARE MODE;

CREATE TABLE patient_name_words (
    tenant_id  uuid NOT NULL,
    word       text COLLATE "C" NOT NULL,
    sort_key   text COLLATE "C" NOT NULL,
    patient_id uuid NOT NULL
);

-- The distinct words of a tenant's patient names: a prefix's words are
-- one short index range here, whatever the number of patients. Only ever
-- added to (ON CONFLICT DO NOTHING): a word no patient has any more (a
-- name corrected, a patient entered in error) stays and finds nothing.
-- On Citus it is distributed by tenant_id: a tenant's words are on one
-- shard, and looking them up is a single-shard query.
CREATE TABLE patient_name_dictionary (
    tenant_id uuid NOT NULL,
    word      text COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, word)
);

INSERT INTO patient_name_words (tenant_id, word, sort_key, patient_id)
SELECT p.tenant_id, w.word, p.sort_key, p.patient_id
FROM patients p
CROSS JOIN LATERAL (SELECT DISTINCT u.word FROM unnest(string_to_array(btrim(p.search_name, ' '), ' ')) AS u(word)
                    WHERE u.word <> '') AS w
WHERE p.status <> 'entered-in-error';

ALTER TABLE patient_name_words ADD PRIMARY KEY (tenant_id, word, sort_key, patient_id);

INSERT INTO patient_name_dictionary (tenant_id, word)
SELECT DISTINCT tenant_id, word FROM patient_name_words;

-- The application role: a patient's words move with its names; the
-- dictionary is only added to.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'historia_app') THEN
        GRANT SELECT, INSERT, DELETE ON patient_name_words TO historia_app;
        GRANT SELECT, INSERT ON patient_name_dictionary TO historia_app;
    END IF;
END
$$;
