package auth

import (
	"context"
	"errors"
	"testing"
)

func TestSecurityLogDetectsTampering(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		tamper  string
		brokeAt int64
	}{
		{"changed", `UPDATE security_events SET username = 'someone.else' WHERE seq = 3`, 3},
		{"changed time", `UPDATE security_events SET occurred_at = occurred_at + interval '1 second' WHERE seq = 2`, 2},
		{"removed", `DELETE FROM security_events WHERE seq = 2`, 2},
		{"removed last", `DELETE FROM security_events WHERE seq = 5`, 5},
		{"reordered", `UPDATE security_events a SET occurred_at = b.occurred_at, kind = b.kind, user_id = b.user_id,
			username = b.username, session_id = b.session_id, client_ip = b.client_ip, detail = b.detail,
			prev_hash = b.prev_hash, hash = b.hash
			FROM security_events b WHERE a.tenant_id = b.tenant_id AND ((a.seq = 2 AND b.seq = 3) OR (a.seq = 3 AND b.seq = 2))`, 2},
		{"inserted", `INSERT INTO security_events (tenant_id, seq, occurred_at, kind, prev_hash, hash)
			SELECT tenant_id, 6, occurred_at, 'login.succeeded', hash, hash FROM security_events WHERE seq = 5`, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.createUser(t, "ana")
			for i := 0; i < 4; i++ {
				_, _ = e.svc.Login(ctx, tenant, "ana", "wrong password!!", "10.1.1.1")
			}
			if n, err := VerifyEvents(ctx, e.pool, tenant); err != nil || n != 5 {
				t.Fatalf("intact log: %d %v", n, err)
			}
			if _, err := e.pool.Exec(ctx, tc.tamper); err != nil {
				t.Fatal(err)
			}
			_, err := VerifyEvents(ctx, e.pool, tenant)
			var ce *ChainError
			if !errors.Is(err, ErrChainBroken) || !errors.As(err, &ce) {
				t.Fatalf("tampering not detected: %v", err)
			}
			if ce.Seq != tc.brokeAt {
				t.Fatalf("broken at %d, want %d (%v)", ce.Seq, tc.brokeAt, err)
			}
		})
	}
}

func TestSecurityLogEmptyTenant(t *testing.T) {
	e := newEnv(t)
	if n, err := VerifyEvents(context.Background(), e.pool, "nobody"); n != 0 || err != nil {
		t.Fatal(n, err)
	}
}
