-- A tenant's tenant-wide audit events (searches, agendas, lists, audit
-- searches, denials and not-found events about ids outside the tenant)
-- are spread over AuditLanes = 16 chains ("lanes") instead of one, so
-- that concurrent staff of one hospital do not all wait on one head row
-- lock. Lane 0 is the tenant's former chain (chain id = tenant id, opened
-- by CreateTenant or migration 0003): its events stay as they are and
-- verify as before. CreateTenant now opens the heads of all the lanes in
-- the same transaction; this opens lanes 1 to 15 for the tenants created
-- before that change (seq 0, empty hashes), so that no other tenant can
-- open them first.
--
-- A lane's id is a name-based UUID version 8 with SHA-256, computed as
-- ehr's laneChain does: the first 16 bytes of
-- sha256(namespace || tenant id's 16 bytes || lane as 4 big-endian bytes),
-- with the version nibble set to 8 and the variant bits to 10. The
-- namespace is ced91e67-1c29-4c77-bfa5-6a914304e83c. A head already there
-- (there is none short of a SHA-256 collision) is left alone.
INSERT INTO audit_heads (tenant_id, patient_id, seq, prev_hash, hash)
SELECT t.id,
       encode(set_byte(set_byte(substring(h.d FROM 1 FOR 16), 6, (get_byte(h.d, 6) & 15) | 128),
                       8, (get_byte(h.d, 8) & 63) | 128), 'hex')::uuid,
       0, '\x', '\x'
FROM tenants t
CROSS JOIN generate_series(1, 15) AS l(n)
CROSS JOIN LATERAL (SELECT sha256('\xced91e671c294c77bfa56a914304e83c'::bytea || uuid_send(t.id) || int4send(l.n))) AS h(d)
ON CONFLICT (patient_id) DO NOTHING;
