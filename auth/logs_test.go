package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestNoSecretsInLogsOrEvents runs every flow with debug logging captured
// and checks that no password, token, or username appears in the log, and
// no password or token in the security events.
func TestNoSecretsInLogsOrEvents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.createUser(t, "maria.lopez", "medico")
	const wrong = "mi clave equivocada 99"
	const newPw = "contraseña nueva del todo"
	_, _ = e.svc.Login(ctx, tenant, "maria.lopez", wrong, "10.9.9.9")
	_, _ = e.svc.Login(ctx, tenant, "usuario.fantasma", wrong, "10.9.9.9")
	t0, err := e.svc.Login(ctx, tenant, "maria.lopez", password, "10.9.9.9")
	if err != nil {
		t.Fatal(err)
	}
	t1, _ := e.svc.Refresh(ctx, t0.RefreshToken, "")
	e.clock.Advance(DefaultRefreshGrace * 2)
	_, _ = e.svc.Refresh(ctx, t0.RefreshToken, "") // reuse
	// Through HTTP too, including a server error path.
	form := url.Values{"username": {"maria.lopez"}, "password": {wrong}}
	r := httptest.NewRequest(http.MethodPost, "/auth", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	e.svc.TokenHandler().ServeHTTP(httptest.NewRecorder(), r)
	if err := e.svc.Users().ResetPassword(ctx, tenant, u.ID, newPw); err != nil {
		t.Fatal(err)
	}
	t2, _ := e.svc.Login(ctx, tenant, "maria.lopez", newPw, "")
	_ = e.svc.Logout(ctx, t2.RefreshToken, "")

	logs := e.logs.String()
	if !strings.Contains(logs, "login failed") || !strings.Contains(logs, u.ID) {
		t.Fatalf("expected log lines missing:\n%s", logs)
	}
	secrets := []string{password, wrong, newPw, t0.AccessToken, t0.RefreshToken, t1.AccessToken, t1.RefreshToken,
		t0.RefreshToken[37:], t1.RefreshToken[37:], t2.RefreshToken[37:], e.hasher.dummyPrefix(e.svc)}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("log holds a secret %.12q…", s)
		}
	}
	for _, name := range []string{"maria.lopez", "usuario.fantasma"} {
		if strings.Contains(logs, name) {
			t.Errorf("log holds username %q", name)
		}
	}
	for _, ev := range e.events(t, tenant) {
		row := strings.Join([]string{ev.Username, ev.UserID, ev.SessionID, ev.ClientIP, ev.Detail, string(ev.Kind)}, "|")
		for _, s := range secrets {
			if s != "" && strings.Contains(row, s) {
				t.Errorf("event %d holds a secret", ev.Seq)
			}
		}
	}
}

// dummyPrefix is a piece of the dummy hash's salt, which must not leak
// either (it would tell unknown users apart).
func (c *countingHasher) dummyPrefix(s *Service) string {
	parts := strings.Split(s.dummy, "$")
	return parts[len(parts)-1]
}
