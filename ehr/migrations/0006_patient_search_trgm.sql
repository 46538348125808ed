-- Patient search by name at hospital scale: a trigram index (pg_trgm,
-- shipped with PostgreSQL's contrib and trusted since PostgreSQL 13, so
-- the database owner may create it; on Citus the extension and the index
-- are propagated to the workers) on the folded names, which serves the
-- word-prefix and substring LIKEs of SearchPatients (name, and family and
-- given, which also filter on search_name). Without it a search reads
-- every patient of the tenant.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX patients_search_name_trgm_idx ON patients USING gin (search_name gin_trgm_ops);
