package ehr

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/google/uuid"
)

// AuditLanes is the number of chains ("lanes") that hold a tenant's
// tenant-wide audit events: the events of requests about no single
// patient (searches, agendas, lists, audit searches, denials and
// not-found events about ids outside the tenant). Each lane is an
// ordinary hash chain with its own head, so staff of one hospital append
// to different heads and do not wait on one row lock (nor, on Citus, on
// one shard). Lane 0 is the chain whose id is the tenant id, the single
// tenant chain of earlier versions, so the events recorded before lanes
// existed stay where they were and verify as before.
//
// CreateTenant opens every lane's head; migration 0007 opened them for
// the tenants that existed before. Raising the number needs a migration
// that opens the new lanes' heads for every tenant, in the same release;
// lowering it would leave lanes that no verification covers.
const AuditLanes = 16

// auditLaneNamespace is the namespace of the lane ids: a lane id is a
// name-based UUID of this namespace and the name (tenant id, lane).
var auditLaneNamespace = [16]byte{0xce, 0xd9, 0x1e, 0x67, 0x1c, 0x29, 0x4c, 0x77, 0xbf, 0xa5, 0x6a, 0x91, 0x43, 0x04, 0xe8, 0x3c}

// laneChain returns the chain id of lane of tenant (0 <= lane <
// AuditLanes). Lane 0 is the tenant id itself. Any other lane is a
// name-based UUID version 8 with SHA-256 (RFC 9562, appendix B.2): the
// first 16 bytes of sha256(namespace || tenant's 16 bytes || lane as 4
// big-endian bytes), with the version (8) and variant (10) bits set. A
// lane id never equals a tenant, patient or record id, which are UUIDv7
// (a different version nibble), nor, short of a SHA-256 collision, a lane
// of another tenant. Migration 0007 computes the same ids in SQL.
func laneChain(tenant uuid.UUID, lane int) uuid.UUID {
	if lane == 0 {
		return tenant
	}
	var name [36]byte
	copy(name[:16], auditLaneNamespace[:])
	copy(name[16:32], tenant[:])
	binary.BigEndian.PutUint32(name[32:], uint32(lane))
	sum := sha256.Sum256(name[:])
	var id uuid.UUID
	copy(id[:], sum[:16])
	id[6] = id[6]&0x0f | 0x80
	id[8] = id[8]&0x3f | 0x80
	return id
}

// laneOf returns the lane of the tenant-wide events of user userID: a
// hash of the user id (FNV-1a, then a final mix), so that one user's
// events stay in one lane, in order, and the tenant-wide events of one
// transaction (one actor) lock one head. The choice spreads users over
// the lanes; it is not needed to verify anything (an event names its
// chain), and may change without a migration.
func laneOf(userID string) int {
	h := uint32(2166136261)
	for i := 0; i < len(userID); i++ {
		h ^= uint32(userID[i])
		h *= 16777619
	}
	// murmur3's fmix32: every bit of the hash reaches the low bits.
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return int(h % AuditLanes)
}

// TenantChains returns the ids of the chains of tenantID's tenant-wide
// audit events, its lanes, lane 0 (the tenant id) first. VerifyChain of
// the tenant id verifies them all; SearchAudit with the tenant id as
// ChainID searches them all. It needs no database: an offline verifier
// of an export (fhir.VerifyAuditTrail) can tell the tenant's lanes from
// its patients' chains with it.
//
// It returns ErrInvalid when tenantID is not a UUID.
func TenantChains(tenantID string) ([]string, error) {
	t, err := parseID("TenantID", tenantID)
	if err != nil {
		return nil, err
	}
	ids := tenantLanes(t)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out, nil
}

// tenantLanes returns the chain ids of tenant's lanes, lane 0 first.
func tenantLanes(tenant uuid.UUID) []uuid.UUID {
	out := make([]uuid.UUID, AuditLanes)
	for i := range out {
		out[i] = laneChain(tenant, i)
	}
	return out
}
