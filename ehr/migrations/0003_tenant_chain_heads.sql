-- Every tenant owns the chain whose id is its own id (tenant-wide reads:
-- searches, agendas, audit search). CreateTenant now opens that chain's
-- head (seq 0, empty hashes) in the same transaction, so no other tenant
-- can open it first; this gives tenants created before that change the
-- same head. A chain already opened under a tenant's id by another tenant
-- is left alone (ON CONFLICT DO NOTHING) and needs an operator's repair.
INSERT INTO audit_heads (tenant_id, patient_id, seq, prev_hash, hash)
SELECT t.id, t.id, 0, '\x', '\x' FROM tenants t
ON CONFLICT (patient_id) DO NOTHING;
