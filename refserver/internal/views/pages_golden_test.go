package views

import (
	"testing"
	"time"
)

func sampleChart() ChartData {
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	return ChartData{
		Patient: PatientDetail{PatientRow: PatientRow{ID: "p-1", Name: "Lucía García Pérez", Document: "DNI 10000000T", BirthDate: "1970-04-02", Sex: "female"},
			Phone: "+34 600 000 000", Email: "lucia@example.org", Address: "Calle Mayor 1, Madrid", Version: 1},
		Panels: BuildChart([]Series{{LabelKey: "vital.heart_rate", Unit: "/min", Points: []Point{{t0, 72}, {t0.Add(48 * time.Hour), 80}}}}),
		Notes: []NoteView{
			{Record: Record{Kind: "note", ID: "n-1", Version: 2, Status: "signed"}, Title: "Evolución", Body: "Estable.", Author: "Dra. Ruiz", At: "2026-11-01 09:00", SignedAt: "2026-11-01 09:05"},
			{Record: Record{Kind: "note", ID: "n-2", Version: 1, Status: "draft"}, Title: "Plan", Body: "Pendiente.", Author: "Dra. Ruiz", At: "2026-11-02 10:00"},
		},
		Conditions:   []ConditionView{{Record: Record{Kind: "condition", ID: "c-1", Version: 1, Status: "active"}, Code: "I10", Display: "Hipertensión esencial", Onset: "2020-01-01"}},
		Allergies:    []AllergyView{{Record: Record{Kind: "allergy", ID: "a-1", Version: 2, Status: "entered-in-error", EnteredInError: true}, Substance: "Penicilina", Reaction: "Exantema", Severity: "moderate"}},
		Medications:  []MedicationView{{Record: Record{Kind: "medication", ID: "m-1", Version: 1, Status: "active"}, Medication: "Enalapril", Dose: "10 mg", Route: "oral", Frequency: "cada 12 horas"}},
		Observations: []ObservationView{{Record: Record{Kind: "observation", ID: "o-1", Version: 1, Status: "final"}, At: "2026-11-03 08:00", LabelKey: "vital.heart_rate", Value: "80 /min"}},
		Errors:       FieldErrors{"code": "field.unknown_code"},
		Form:         Form{"form": "condition", "code": "hta", "display": "Hipertensión"},
	}
}

var allChart = Can{"note.create": true, "note.sign": true, "note.amend": true, "history": true, "condition.create": true,
	"allergy.create": true, "medication.create": true, "observation.create": true, "enteredinerror": true, "breakglass": true}

func TestGoldenChart(t *testing.T) {
	p := Page{TitleKey: "chart.title", Path: "/medico/pacientes/p-1", User: staffUser}
	d := sampleChart()
	d.Can, d.AlertKey = allChart, "error.422"
	golden(t, "chart", Chart(p, d))
	denied := ChartData{Patient: d.Patient, Denied: true, Can: allChart, Reason: "corto", Errors: FieldErrors{"reason": "breakglass.too_short"}}
	golden(t, "chart_breakglass", Chart(p, denied))
	bg := sampleChart()
	bg.Can, bg.BreakGlass, bg.Errors, bg.Form = allChart, true, FieldErrors{}, Form{}
	golden(t, "chart_breakglass_active", Chart(p, bg))
	// A long record, bounded: counts, links to the rest, the windows of
	// vital signs; and the page of one section beyond the chart.
	long := sampleChart()
	long.Can, long.Errors, long.Form = allChart, FieldErrors{}, Form{}
	long.Counts = map[string]SectionCount{"notes": {Shown: 2, Total: 2003, More: "/medico/pacientes/p-1/seccion/notas?cursor=AQID"},
		"conditions": {Shown: 1, Total: 1}, "allergies": {Shown: 1, Total: 1}, "medications": {Shown: 1, Total: 1},
		"observations": {Shown: 1, Total: 100, Capped: true, More: "/medico/pacientes/p-1/seccion/constantes?cursor=BAUG"}}
	long.Windows = []WindowLink{{LabelKey: "vitals.window_7", URL: "/medico/pacientes/p-1?ventana=7#vitals"},
		{LabelKey: "vitals.window_30", URL: "/medico/pacientes/p-1?ventana=30#vitals", Current: true},
		{LabelKey: "vitals.window_365", URL: "/medico/pacientes/p-1?ventana=365#vitals"},
		{LabelKey: "vitals.window_all", URL: "/medico/pacientes/p-1?ventana=todo#vitals"}}
	golden(t, "chart_bounded", Chart(p, long))
	more := ChartData{Patient: long.Patient, Notes: long.Notes, Section: "notes", Can: Can{},
		Counts: map[string]SectionCount{"notes": {Shown: 2, Total: 2003, More: "/medico/pacientes/p-1/seccion/notas?cursor=CQoL"}}}
	golden(t, "chart_more_notes", ChartMore(p, more, "/medico/pacientes/p-1#notes"))
	obs := ChartData{Patient: long.Patient, Observations: long.Observations, Section: "observations", Can: Can{},
		Counts: map[string]SectionCount{"observations": {Shown: 1, Total: 1264}}}
	golden(t, "chart_more_observations", ChartMore(p, obs, "/medico/pacientes/p-1#vitals"))
	golden(t, "note_history", NoteHistory(Page{TitleKey: "notes.history", Path: "/x", User: staffUser}, HistoryData{PatientID: "p-1", NoteID: "n-1",
		Versions: []VersionView{{Version: 1, At: "2026-11-01 09:00", By: "Dra. Ruiz", Status: "draft", Title: "Evolución", Body: "Texto"},
			{Version: 3, At: "2026-11-02 09:00", By: "Dra. Ruiz", Status: "amended", Reason: "Error de transcripción", Title: "Evolución", Body: "Texto corregido"}}}))
}

func TestGoldenPortal(t *testing.T) {
	d := sampleChart()
	d.Errors, d.Form = FieldErrors{}, Form{}
	golden(t, "portal", Portal(Page{TitleKey: "portal.title", Path: "/paciente/p-1", User: &User{Name: "paciente", Role: "paciente"}}, PortalData{
		Patient: d.Patient, Chart: d,
		Appointments: []AppointmentView{{ID: "ap-1", Practitioner: "Dra. Ruiz", Date: "2026-11-05", Start: "09:00", End: "09:20", Status: "booked", Reason: "Revisión", Minutes: 20, Version: 1}},
		Access:       []AccessRow{{At: "2026-11-01 09:00", Who: "medico", Role: "medico", What: "chart", BreakGlass: true}},
	}))
}

func TestGoldenSecretaria(t *testing.T) {
	pd := sampleChart().Patient
	golden(t, "secretaria_week", Secretaria(Page{TitleKey: "secretaria.title", Path: "/secretaria", User: &User{Name: "secretaria", Role: "secretaria"}}, SecretariaData{
		Practitioners: []Option{{Value: "pr-1", Label: "Dra. Ruiz (Medicina interna)"}, {Value: "pr-2", Label: "Dr. Martín"}}, PractitionerID: "pr-1",
		Date: "2026-11-04", Week: true, Prev: "/secretaria?date=2026-10-28", Next: "/secretaria?date=2026-11-11", Back: "/secretaria?date=2026-11-04",
		Days: []AgendaDay{{Date: "2026-11-02", Weekday: 1, Appointments: []AppointmentView{
			{ID: "ap-1", PatientID: "p-1", Patient: "Lucía García Pérez", Date: "2026-11-02", Start: "09:00", End: "09:20", Status: "booked", Minutes: 20, Version: 1},
			{ID: "ap-2", PatientID: "p-2", Patient: "José Martín", Date: "2026-11-02", Start: "10:00", End: "10:30", Status: "arrived", Minutes: 30, Version: 2}}},
			{Date: "2026-11-03", Weekday: 2}},
		Query: "garcia", Searched: true, Results: []PatientRow{pd.PatientRow}, PickHref: "/secretaria?q=garcia&patient=", Patient: &pd,
		Form: Form{"time": "09:10"}, Errors: FieldErrors{}, AlertKey: "agenda.taken",
		Can: Can{"book": true, "move": true, "cancel": true, "checkin": true},
	}))
}

func TestGoldenAdmisionistaAdminAuditor(t *testing.T) {
	row := sampleChart().Patient.PatientRow
	golden(t, "admisionista", Admisionista(Page{TitleKey: "admisionista.title", Path: "/admisionista", User: &User{Name: "admisionista", Role: "admisionista"}}, AdmisionistaData{
		Form: RegisterForm{DocumentType: "DNI", Sex: "unknown"}, Errors: FieldErrors{}, Picked: &row,
		Practitioners: []Option{{Value: "pr-1", Label: "Dra. Ruiz"}},
		Admissions:    []AdmissionView{{ID: "e-1", PatientID: "p-1", Patient: "Lucía García Pérez", Ward: "Cardiología", Bed: "204", Attending: "Dra. Ruiz", AttendingID: "pr-1", Since: "2026-11-01 12:00", Version: 1}},
		Action:        Form{}, ActionErrors: FieldErrors{"ward": "field.required"}, AlertKey: "error.422",
		Can: Can{"admit": true, "transfer": true, "discharge": true, "careteam": true},
	}))
	golden(t, "admin", Admin(Page{TitleKey: "admin.title", Path: "/admin", User: &User{Name: "admin", Role: "admin"}}, AdminData{
		Users: []UserRow{{ID: "u-1", Username: "medico", Roles: "medico", Status: "active", LastLogin: "2026-11-01 08:00"},
			{ID: "u-2", Username: "antiguo", Roles: "secretaria", Status: "disabled", Disabled: true}},
		Roles: []string{"paciente", "medico", "admin"}, Form: Form{"role": "medico", "username": "dra.vega"},
		Errors: FieldErrors{"practitioner_name": "field.required"}, AlertKey: "error.422", Can: Can{"manage": true},
	}))
	golden(t, "auditor", Auditor(Page{TitleKey: "auditor.title", Path: "/auditor", User: &User{Name: "auditor", Role: "auditor"}}, AuditorData{
		Errors:   FieldErrors{},
		Verified: &VerifyResult{Chain: "p-1", OK: true, Events: 12},
		Grants:   []GrantView{{At: "2026-11-01 09:00", User: "medico", PatientID: "p-1", Reason: "Parada cardiorrespiratoria", Until: "2026-11-01 10:00", Uses: 3, Active: true}},
		Events:   []AuditRow{{At: "2026-11-01 09:00:00", User: "medico", Roles: "medico", Action: "read", Kind: "chart", Chain: "p-1", Outcome: "allowed", BreakGlass: true, Reason: "Parada"}},
	}))
}
