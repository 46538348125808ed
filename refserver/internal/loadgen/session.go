package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// driver is one run: the sessions and the targets found.
type driver struct {
	cfg      Config
	base     string
	tenant   string
	sessions map[string]*session

	patients      []string // the medico's patients (care team)
	ownPatient    string   // the paciente's record
	practitioners []string
	prefixes      []string // name prefixes that find patients
	registered    atomic.Int64
}

// session is one demo user's access token, renewed before it expires.
type session struct {
	d       *driver
	user    string
	patient string // the paciente's record
	mu      sync.Mutex
	token   string
	renewAt time.Time
}

// bearer returns the session's token, signing in again when it is about
// to expire.
func (s *session) bearer(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && time.Now().Before(s.renewAt) {
		return s.token, nil
	}
	if err := s.login(ctx); err != nil {
		return "", err
	}
	return s.token, nil
}

// login signs in through the OAuth2 password grant (POST /auth); s.mu is
// held or s is not shared yet.
func (s *session) login(ctx context.Context) error {
	form := url.Values{"grant_type": {"password"}, "username": {s.user}, "password": {s.d.cfg.Password}}
	if s.d.cfg.Tenant != "" {
		form.Set("tenant", s.d.cfg.Tenant)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.d.base+"/auth", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := s.d.do(req, http.StatusOK, &tok); err != nil {
		return fmt.Errorf("loadgen: sign in as %s: %w", s.user, err)
	}
	if tok.AccessToken == "" {
		return fmt.Errorf("loadgen: sign in as %s: no access token", s.user)
	}
	life := time.Duration(tok.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Minute
	}
	s.token, s.renewAt = tok.AccessToken, time.Now().Add(life*3/4)
	return nil
}

// do sends req and decodes a JSON answer of status want into v (nil:
// discarded). An error names the status only: an answer may hold
// personal data.
func (d *driver) do(req *http.Request, want int, v any) error {
	res, err := d.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		_, _ = io.Copy(io.Discard, res.Body)
		return fmt.Errorf("%s %s: status %d", req.Method, req.URL.Path, res.StatusCode)
	}
	if v == nil {
		_, err = io.Copy(io.Discard, res.Body)
		return err
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// get reads path as the demo user of role into v.
func (d *driver) get(ctx context.Context, role, path string, v any) error {
	s := d.sessions[role]
	tok, err := s.bearer(ctx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return d.do(req, http.StatusOK, v)
}

// discover signs in as the demo users the run needs and finds the
// targets: the medico's patients, the paciente's record, the
// practitioners and name prefixes that find patients.
func (d *driver) discover(ctx context.Context) error {
	need := []string{RoleMedico} // the patients, and the comparison
	if !d.cfg.SkipMix {
		for _, r := range Roles {
			if d.cfg.Mix[r] > 0 && r != RoleMedico {
				need = append(need, r)
			}
		}
	}
	for _, role := range need {
		s := &session{d: d, user: role}
		if err := s.login(ctx); err != nil {
			return err
		}
		var me struct {
			TenantID  string `json:"tenant_id"`
			PatientID string `json:"patient_id"`
		}
		d.sessions[role] = s
		if err := d.get(ctx, role, "/api/v1/me", &me); err != nil {
			return fmt.Errorf("loadgen: %s: %w", role, err)
		}
		s.patient, d.tenant = me.PatientID, me.TenantID
	}
	var mine struct {
		Patients []struct {
			ID          string `json:"id"`
			FamilyNames string `json:"family_names"`
		} `json:"patients"`
	}
	if err := d.get(ctx, RoleMedico, "/api/v1/my-patients", &mine); err != nil {
		return fmt.Errorf("loadgen: the medico's patients: %w", err)
	}
	seen := map[string]bool{}
	for _, p := range mine.Patients {
		d.patients = append(d.patients, p.ID)
		// Name prefixes, kept in memory only: never logged nor reported.
		if f := strings.Fields(p.FamilyNames); len(f) > 0 {
			if r := []rune(f[0]); len(r) >= 3 && !seen[string(r[:3])] {
				seen[string(r[:3])] = true
				d.prefixes = append(d.prefixes, string(r[:3]))
			}
		}
	}
	if len(d.patients) == 0 {
		return errors.New("loadgen: the medico has no patients in care (is this the demo hospital?)")
	}
	if len(d.prefixes) == 0 {
		d.prefixes = []string{"Car"}
	}
	if s := d.sessions[RolePaciente]; s != nil {
		if s.patient == "" {
			return errors.New("loadgen: the paciente account has no patient record")
		}
		d.ownPatient = s.patient
	}
	if d.sessions[RoleSecretaria] != nil {
		var ps struct {
			Practitioners []struct {
				ID string `json:"id"`
			} `json:"practitioners"`
		}
		if err := d.get(ctx, RoleSecretaria, "/api/v1/practitioners?active=true", &ps); err != nil {
			return fmt.Errorf("loadgen: the practitioners: %w", err)
		}
		for _, p := range ps.Practitioners {
			d.practitioners = append(d.practitioners, p.ID)
		}
		if len(d.practitioners) == 0 {
			return errors.New("loadgen: no active practitioner for the agenda")
		}
	}
	return nil
}
