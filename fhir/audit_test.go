package fhir_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/fhir"
	"github.com/historiaehr/historia/rbac"
)

func TestMain(m *testing.M) { ehrtest.Main(m) }

// chain returns n linked events of one chain, hashed with fhir.AuditHash.
func chain(n int) []ehr.AuditEvent {
	var out []ehr.AuditEvent
	var prev []byte
	for i := range n {
		e := ehr.AuditEvent{ID: "ev" + string(rune('a'+i)), TenantID: tenantID, ChainID: patID, Seq: int64(i + 1),
			OccurredAt: t0.Add(time.Duration(i) * time.Second), UserID: userID, Roles: []string{"medico"}, Action: "read",
			Kind: "chart", RecordID: patID, Outcome: ehr.OutcomeAllowed, Rule: "medico-care-team", RequestID: "req-1", IP: "10.0.0.7", PrevHash: prev}
		if i == 1 {
			e.BreakGlass, e.Reason, e.Roles = true, "paciente inconsciente en urgencias", []string{"medico", "docente"}
		}
		if i == 2 {
			e.Outcome, e.Reason, e.Kind, e.Action, e.RequestID, e.IP = ehr.OutcomeDenied, "not on the care team", "note", "update", "", ""
		}
		if i == 3 {
			// A request that named a record not in the tenant.
			e.Outcome, e.Rule, e.Kind, e.Action, e.RecordID = ehr.OutcomeNotFound, "", "note", "locate", patID+"/0190a1b2-0000-7000-8000-0000000000n9"
		}
		e.Hash = fhir.AuditHash(e)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func TestAuditEventRoundTrip(t *testing.T) {
	for i, e := range chain(4) {
		name := []string{"auditevent", "auditevent-breakglass", "auditevent-denied", "auditevent-notfound"}[i]
		roundTrip(t, name, e, fhir.EncodeAuditEvent, fhir.DecodeAuditEvent)
	}
}

func encodeAll(tb testing.TB, evs []ehr.AuditEvent) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, e := range evs {
		data, err := fhir.EncodeAuditEvent(e)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// tamper returns the resources with old replaced by new in resource i.
func tamper(res [][]byte, i int, old, new string) [][]byte {
	out := append([][]byte(nil), res...)
	out[i] = bytes.Replace(out[i], []byte(old), []byte(new), 1)
	return out
}

func TestVerifyAuditTrailDetectsTampering(t *testing.T) {
	evs := chain(4)
	res := encodeAll(t, evs)
	st, err := fhir.VerifyAuditTrail(res)
	if err != nil || len(st) != 1 || st[0].Events != 4 || !bytes.Equal(st[0].Head, evs[3].Hash) {
		t.Fatalf("VerifyAuditTrail = %+v, %v", st, err)
	}
	reversed := [][]byte{res[3], res[2], res[1], res[0]}
	if _, err := fhir.VerifyAuditTrail(reversed); err != nil {
		t.Fatalf("order of the resources matters: %v", err)
	}
	for name, tc := range map[string]struct {
		res  [][]byte
		seq  int64
		what string
	}{
		"changed reason": {tamper(res, 1, "inconsciente", "consciente"), 2, "hash mismatch"},
		"changed role":   {tamper(res, 0, `"code":"medico"`, `"code":"auditor"`), 1, "hash mismatch"},
		"changed time":   {tamper(res, 2, "09:26:55", "09:26:56"), 3, "hash mismatch"},
		"removed event":  {[][]byte{res[0], res[2], res[3]}, 2, "sequence gap"},
		"removed first":  {res[1:], 1, "sequence gap"},
		"inserted event": {append([][]byte{res[0]}, append([][]byte{res[1]}, res[1:]...)...), 3, "sequence gap"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := fhir.VerifyAuditTrail(tc.res)
			var ce *ehr.ChainError
			if !errors.As(err, &ce) || !errors.Is(err, ehr.ErrChainBroken) || ce.Seq != tc.seq || !strings.Contains(ce.Problem, tc.what) {
				t.Fatalf("err = %v, want a chain error at seq %d (%s)", err, tc.seq, tc.what)
			}
		})
	}
	t.Run("not an audit event", func(t *testing.T) {
		_, err := fhir.VerifyAuditTrail(append(res, []byte(`{"resourceType":"Patient"}`)))
		var oo *fhir.OperationOutcome
		if !errors.As(err, &oo) || !strings.HasPrefix(oo.Issues[0].Location, "[4].") {
			t.Fatalf("err = %v, want an OperationOutcome at [4]", err)
		}
	})
}

// TestWithRealRepository verifies chains written by ehr on
// PostgreSQL, exported through SearchAudit and EncodeAuditEvent, against
// ehr's own VerifyChain, and checks real records round-trip.
func TestWithRealRepository(t *testing.T) {
	h := ehrtest.NewHospital(t, ehrtest.NewDB(t))
	p := h.NewPatient(t)
	other := h.NewPatient(t)
	h.OnCareTeam(t, p, h.Practitioner)
	med := h.As(h.Medico)
	mustDo := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	hr, sys, dia := 71.0, 118.0, 79.0
	obs, err := h.Repo.RecordObservations(med, p.ID, []ehr.Observation{
		{Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate, Value: &hr, Unit: "/min"},
		{Category: ehr.CategoryVitalSigns, Code: ehr.CodeSystolicBP, Value: &sys, Unit: "mmHg"},
		{Category: ehr.CategoryVitalSigns, Code: ehr.CodeDiastolicBP, Value: &dia, Unit: "mmHg"},
	})
	mustDo(err)
	_, err = h.Repo.RecordCondition(med, ehr.Condition{PatientID: p.ID, Code: "I10", Display: "Hipertensión esencial"})
	mustDo(err)
	_, err = h.Repo.CreateNote(med, ehr.Note{PatientID: p.ID, Title: "Ingreso", Body: "Paciente con cefalea."}, true)
	mustDo(err)
	_, err = h.Repo.Chart(med, other.ID) // a read that ehr audits (and withholds the clinical sections)
	mustDo(err)
	_, err = h.Repo.BreakGlass(med, other.ID, "paciente inconsciente en urgencias", time.Hour)
	mustDo(err)
	adm := h.As(h.Admisionista)
	enc, err := h.Repo.Admit(adm, ehr.Admission{PatientID: p.ID, AttendingID: h.Practitioner.ID, Ward: "Medicina interna", Bed: "MI-12", Reason: "neumonía"})
	mustDo(err)
	enc, err = h.Repo.Transfer(adm, ehr.EncounterRef{PatientID: p.ID, ID: enc.ID, Version: enc.Version}, "UCI", "U-3", "")
	mustDo(err)
	chart, err := h.Repo.Chart(med, p.ID)
	mustDo(err)

	// The location history of a real admission, from its versions.
	t.Run("stays", func(t *testing.T) {
		versions, err := h.Repo.History(med, rbac.KindAdmission, p.ID, enc.ID)
		mustDo(err)
		stays, err := fhir.Stays(versions)
		mustDo(err)
		if len(stays) != 2 || stays[0].Ward != "Medicina interna" || stays[0].Bed != "MI-12" || !stays[0].Since.Equal(enc.StartedAt) ||
			stays[1].Ward != "UCI" || stays[1].Bed != "U-3" || !stays[1].Since.After(stays[0].Since) {
			t.Fatalf("Stays = %+v (started %v)", stays, enc.StartedAt)
		}
		data, err := fhir.EncodeEncounter(enc, stays...)
		mustDo(err)
		got, gotStays, err := fhir.DecodeEncounter(data)
		mustDo(err)
		if !reflect.DeepEqual(got, enc) || !reflect.DeepEqual(gotStays, stays) {
			t.Errorf("admission changed:\n got %+v %+v\nwant %+v %+v", got, gotStays, enc, stays)
		}
	})

	// Real records round-trip.
	t.Run("records", func(t *testing.T) {
		check := func(name string, got, want any, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s changed:\n got %+v\nwant %+v", name, got, want)
			}
		}
		data, err := fhir.EncodePatient(chart.Patient)
		mustDo(err)
		got, err := fhir.DecodePatient(data)
		check("patient", got, chart.Patient, err)
		for _, o := range obs {
			data, err := fhir.EncodeObservation(o)
			mustDo(err)
			got, err := fhir.DecodeObservation(data)
			check("observation", got, o, err)
		}
		data, err = fhir.EncodeBloodPressure(obs[1], obs[2])
		mustDo(err)
		gs, gd, err := fhir.DecodeBloodPressure(data)
		check("systolic", gs, obs[1], err)
		check("diastolic", gd, obs[2], err)
		data, err = fhir.EncodeNote(chart.Notes[0])
		mustDo(err)
		n, err := fhir.DecodeNote(data)
		check("note", n, chart.Notes[0], err)
		data, err = fhir.EncodeCondition(chart.Conditions[0])
		mustDo(err)
		c, err := fhir.DecodeCondition(data)
		check("condition", c, chart.Conditions[0], err)
		data, err = fhir.EncodeCareTeam(chart.CareTeam[0])
		mustDo(err)
		ct, err := fhir.DecodeCareTeam(data)
		check("care team", ct, chart.CareTeam[0], err)
	})

	aud := h.As(h.Auditor)
	page, err := h.Repo.SearchAudit(aud, ehr.AuditQuery{Limit: 500})
	mustDo(err)
	if page.Next != "" {
		t.Fatal("more than one page of audit events")
	}
	byChain := map[string][]ehr.AuditEvent{}
	for _, e := range page.Events {
		byChain[e.ChainID] = append(byChain[e.ChainID], e)
	}
	if len(byChain[p.ID]) < 5 || len(byChain[other.ID]) < 2 {
		t.Fatalf("few events: %d and %d", len(byChain[p.ID]), len(byChain[other.ID]))
	}
	var bg bool
	for _, id := range []string{p.ID, other.ID} {
		res := encodeAll(t, byChain[id])
		for _, e := range byChain[id] {
			bg = bg || e.BreakGlass
		}
		st, err := fhir.VerifyAuditTrail(res)
		if err != nil {
			t.Fatalf("chain %s: %v", id, err)
		}
		want, err := h.Repo.VerifyChain(aud, id)
		mustDo(err)
		if len(st) != 1 || st[0].Events != want.Events || !bytes.Equal(st[0].Head, want.Head) {
			t.Fatalf("chain %s: offline %+v, ehr %+v", id, st, want)
		}
		// A tampered exported event fails: change the recorded time by a microsecond.
		var doc map[string]any
		mustDo(json.Unmarshal(res[0], &doc))
		at, err := time.Parse(time.RFC3339Nano, doc["recorded"].(string))
		mustDo(err)
		doc["recorded"] = at.Add(time.Microsecond).Format(time.RFC3339Nano)
		res[0], _ = json.Marshal(doc)
		if _, err := fhir.VerifyAuditTrail(res); !errors.Is(err, ehr.ErrChainBroken) {
			t.Errorf("chain %s: tampered trail verified: %v", id, err)
		}
	}
	if !bg {
		t.Error("no break-glass event in the trail")
	}
}
