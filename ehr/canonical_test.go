package ehr

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"
)

// TestCanonicalEncodingIsStable pins the canonical encoding the chain
// hashes cover: a change would make every stored chain fail VerifyChain.
// A deliberate change needs a new canonicalVersion, not a new golden value.
func TestCanonicalEncodingIsStable(t *testing.T) {
	e := &AuditEvent{
		ID: "01900000-0000-7000-8000-0000000000aa", TenantID: "01900000-0000-7000-8000-0000000000bb",
		ChainID: "01900000-0000-7000-8000-0000000000cc", UserID: "u-1", Roles: []string{"medico", "auditor"},
		OccurredAt: time.Date(2026, 11, 27, 1, 2, 3, 456789000, time.FixedZone("COT", -5*3600)),
		Action:     "read", Kind: "demographics", RecordID: "r-1", Outcome: OutcomeAllowed, Rule: "medico-read",
		BreakGlass: true, Reason: "urgencias", RequestID: "req-1", IP: "192.0.2.10",
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{e.OccurredAt, "6badea3ca7b34232852f0ce7b9d5e8757c934d8b2021c56398b5e678591cec00"},
		// Years past 9999 format longer than 27 bytes; the length prefix
		// follows.
		{time.Date(12026, 1, 1, 0, 0, 0, 0, time.UTC), "956eb82eb6136b779b1f2cc0baccd0623a1c49596c28700ab1e365607311469b"},
	} {
		e.OccurredAt = tc.at
		sum := sha256.Sum256(e.canonical())
		if got := hex.EncodeToString(sum[:]); got != tc.want {
			t.Errorf("canonical encoding at %v: sha256 %s, want %s", tc.at, got, tc.want)
		}
	}
}
