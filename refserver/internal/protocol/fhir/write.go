package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
	r4 "github.com/historiaehr/historia/fhir"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/fhirmap"
)

// Writes: create (POST [type]) and update (PUT [type]/[id]). Each maps the
// resource onto ehr's operations, which authorize (rbac), validate and
// audit as they do for the JSON API; this file only decides which
// operations a resource asks for.
//
// A create of a record in the state the clinical workflow creates it in
// (an encounter in progress in one ward and bed, a booked appointment, an
// active care-team membership, a preliminary or final note, a final
// observation, a condition, allergy or prescription) that names no one
// but the caller as its author, signer, recorder or prescriber records a
// new act of the caller, now, in the caller's tenant: what ehr assigns
// (id, version, tenant, creation and change times, recorder, author,
// prescriber, signer and signing time) comes from the server, and a
// body's values for them (id, meta, the tenant and created extensions,
// recorder, performer, author, authenticator, requester, authoredOn,
// date) are ignored.
//
// Any other record (a finished encounter or a discharged admission, a
// fulfilled, no-show or cancelled appointment, an ended care-team
// membership, an amended note or observation, a record entered in error,
// a record naming another author, signer, recorder or prescriber, a note
// with its signing time: a chart moved from another system, a patient's
// $everything from another tenant) is stored as it is by
// ehr.Repository.ImportRecord (isImport): its statuses, clinical times,
// creation time and the people it names are kept, the id, version,
// tenant and change time are the server's, it is authorized as the
// workflow's create of the kind and audited with the action "import".
// The people fields an import keeps are then required (who wrote,
// signed, recorded or prescribed it), and an encounter's location
// history (earlier stays) is not kept: the import has its current ward
// and bed. The refusals that remain on create: a Patient that is not
// active (a new patient is not entered in error), what ehr's validation
// refuses (422 naming the element: a status outside the kind's, an end
// before its start, a finished encounter without its end, a signed note
// without its signer, ...), and what its rules refuse
// (409: a double booking, a second open admission, a practitioner who is
// already an active member of the care team).

// An update names the version it replaces (If-Match, or meta.versionId):
// a blind overwrite of patient data is refused (428), a stale version is
// 412. It compares the resource with the current record and calls the
// operations that make the change (UpdatePatient, Transfer, SignNote,
// ...), in one transaction; an update that changes nothing writes nothing
// and answers the current version. A change ehr cannot make (another
// subject, a new start time, a reopened encounter) is refused with 422
// naming the element. Ids are assigned by the server: an update of an id
// that names no resource is 404 (no update-as-create).

// ExtChangeReason is the extension (valueString) by which an update gives
// the reason ehr records with some changes: marking a record entered in
// error, amending a signed note (required there), cancelling an
// appointment, ending a care-team membership. The server takes it out of
// the resource before decoding it and keeps it in the record's version
// history only (never in logs or errors); a read does not return it. A
// create ignores it.
const ExtChangeReason = r4.Base + "/StructureDefinition/change-reason"

// defaultErrorReason is the reason recorded when an update marks a record
// entered in error without ExtChangeReason (ehr requires a reason).
const defaultErrorReason = "entered in error via FHIR"

// written is a resource as a create or an update left it.
type written struct {
	t *resourceType
	// status is 201 (created), or 200 (updated, or a conditional create
	// that found the resource).
	status  int
	id      string
	version int
	updated time.Time
	body    []byte
}

// with returns x reaching the records through repo (a transaction's
// Repository), so that its reads see the transaction's writes.
func (x *server) with(repo *ehr.Repository) *server {
	y := *x
	y.records = repo
	return &y
}

// create is POST [type]: it creates the resource (conditionally, with
// If-None-Exist) in one transaction and answers 201 with Location, ETag,
// Last-Modified and the resource as stored (or 200 with the resource an
// If-None-Exist found), as Prefer: return= asks.
func (x *server) create(t *resourceType) handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		body, err := readBody(w, r)
		if err != nil {
			return err
		}
		ctx := r.Context()
		var res written
		err = x.records.InTx(ctx, func(tx *ehr.Repository) error {
			var err error
			res, err = x.createRecord(ctx, tx, t, body, r.Header.Get("If-None-Exist"))
			return err
		})
		if err != nil {
			return err
		}
		writeWritten(w, r, res)
		return nil
	}
}

// update is PUT [type]/[id]: it applies the change in one transaction and
// answers 200 with ETag, Last-Modified and the new version, as Prefer:
// return= asks.
func (x *server) update(t *resourceType) handler {
	return func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		body, err := readBody(w, r)
		if err != nil {
			return err
		}
		ctx := r.Context()
		var res written
		err = x.records.InTx(ctx, func(tx *ehr.Repository) error {
			var err error
			res, err = x.updateRecord(ctx, tx, t, r.PathValue("id"), body, r.Header.Get("If-Match"))
			return err
		})
		if err != nil {
			return err
		}
		writeWritten(w, r, res)
		return nil
	}
}

// writeWritten answers a create or an update: the status, Location for a
// creation, the version headers, and the body Prefer: return= asks for
// (the resource by default; none for minimal; an OperationOutcome).
func writeWritten(w http.ResponseWriter, r *http.Request, res written) {
	if res.status == http.StatusCreated {
		w.Header().Set("Location", versionLocation(r, res.t.Name, res.id, res.version))
	}
	switch preferReturn(r.Header) {
	case "minimal":
		w.Header().Set("ETag", etag(res.version))
		if !res.updated.IsZero() {
			w.Header().Set("Last-Modified", res.updated.UTC().Format(http.TimeFormat))
		}
		w.WriteHeader(res.status)
	case "OperationOutcome":
		w.Header().Set("ETag", etag(res.version))
		if !res.updated.IsZero() {
			w.Header().Set("Last-Modified", res.updated.UTC().Format(http.TimeFormat))
		}
		verb := "updated"
		if res.status == http.StatusCreated {
			verb = "created"
		}
		writeOutcome(w, res.status, issue{Severity: "information", Code: "informational",
			Diagnostics: fmt.Sprintf("%s/%s %s, version %d", res.t.Name, res.id, verb, res.version)})
	default:
		writeResource(w, res.status, res.body, res.version, res.updated)
	}
}

// preferReturn returns the return preference of the Prefer header
// (minimal, representation or OperationOutcome); representation when
// none is given.
func preferReturn(h http.Header) string {
	for _, v := range h.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			p, _, _ = strings.Cut(p, ";")
			k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
			if !strings.EqualFold(strings.TrimSpace(k), "return") {
				continue
			}
			switch val = strings.Trim(strings.TrimSpace(val), `"`); val {
			case "minimal", "representation", "OperationOutcome":
				return val
			}
		}
	}
	return "representation"
}

// decodeFor decodes body as a resource of t (fhirmap.Decode): the record,
// and the location history (stays) of an Encounter.
func decodeFor(t *resourceType, body []byte) (any, []r4.Stay, error) {
	return fhirmap.Decode(t.Name, body)
}

// takeReason takes the ExtChangeReason extensions out of the top-level
// extension array of a resource and returns the resource without them and
// the reason. A body that is not a JSON object is returned as it is, for
// the decoder to refuse.
func takeReason(body []byte) ([]byte, string, error) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return body, "", nil
	}
	raw, ok := top["extension"]
	if !ok {
		return body, "", nil
	}
	var exts []json.RawMessage
	if json.Unmarshal(raw, &exts) != nil {
		return body, "", nil
	}
	var keep []json.RawMessage
	reason, found := "", false
	for _, e := range exts {
		var probe struct {
			URL         string  `json:"url"`
			ValueString *string `json:"valueString"`
		}
		if json.Unmarshal(e, &probe) != nil || probe.URL != ExtChangeReason {
			keep = append(keep, e)
			continue
		}
		if probe.ValueString == nil || found {
			return nil, "", &outcome{status: http.StatusBadRequest, code: "invalid", expr: "extension",
				diag: "the change-reason extension is given once, with a valueString"}
		}
		reason, found = *probe.ValueString, true
	}
	if !found {
		return body, "", nil
	}
	if len(keep) == 0 {
		delete(top, "extension")
	} else {
		top["extension"], _ = json.Marshal(keep)
	}
	out, err := fhirmap.MarshalJSON(top)
	if err != nil {
		return nil, "", err
	}
	return out, reason, nil
}

// wrote is the written answer of record v of type t with status.
func wrote(t *resourceType, v any, status int) (written, error) {
	body, err := t.encode(v)
	if err != nil {
		return written{}, err
	}
	m := metaOf(v)
	return written{t: t, status: status, id: m.ID, version: m.Version, updated: m.Updated, body: body}, nil
}

// wrotePanel is the written answer of a blood-pressure panel: the
// systolic observation's id and version, both as components.
func wrotePanel(t *resourceType, s, d ehr.Observation, status int) (written, error) {
	body, err := r4.EncodeBloodPressure(s, d)
	if err != nil {
		return written{}, err
	}
	return written{t: t, status: status, id: s.ID, version: s.Version, updated: s.UpdatedAt, body: body}, nil
}

// unsupported is a change or a value ehr cannot store: 422 naming the
// element (a FHIRPath of the resource).
func unsupported(expr, format string, args ...any) error {
	return &outcome{status: http.StatusUnprocessableEntity, code: "not-supported", expr: expr,
		diag: expr + ": " + fmt.Sprintf(format, args...)}
}

// stale is the answer to an update that names a version other than the
// current one: 412. current is the current version when known (else 0).
func stale(current int, base error) error {
	diag := "the version named (If-Match or meta.versionId) is not the current one: read the resource again"
	if current > 0 {
		diag = fmt.Sprintf("the current version is %d, not the one named (If-Match or meta.versionId): read the resource again", current)
	}
	return &outcome{status: http.StatusPreconditionFailed, code: "conflict", diag: diag, base: base}
}

// versionIsRE finds the current version in ehr's answer to a change that
// named another one ("...: conflict: version is 4").
var versionIsRE = regexp.MustCompile(`: version is (\d+)`)

// staleOr returns err, a failed change that named version sent, as 412
// when ehr refused it because the record is at another version, or as it
// is otherwise (a state conflict, such as a double booking or a
// transition the record's status does not allow, stays 409). ehr tells
// the two apart only in its message ("version is N"); N equal to sent
// (FinishEncounter's answer to a state it refuses) is a state conflict.
func staleOr(err error, sent int) error {
	if !errors.Is(err, ehr.ErrConflict) {
		return err
	}
	m := versionIsRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	n, _ := strconv.Atoi(m[1])
	if n == sent {
		return err
	}
	return stale(n, err)
}

// versionToMatch returns the version an update names: If-Match's (W/"3"),
// else the body's meta.versionId. Neither is 428: an update of patient
// data says which version it replaces.
func versionToMatch(ifMatch string, bodyVersion int) (int, error) {
	ifMatch = strings.TrimSpace(ifMatch)
	switch {
	case ifMatch == "*":
		return 0, &outcome{status: http.StatusPreconditionRequired, code: "required", expr: "If-Match",
			diag: `If-Match: * names no version: give the ETag of the version read, W/"<versionId>"`}
	case ifMatch != "":
		v, ok := parseETag(ifMatch)
		if !ok {
			return 0, &outcome{status: http.StatusBadRequest, code: "invalid", expr: "If-Match",
				diag: `If-Match must be the ETag of the version read, W/"<versionId>"`}
		}
		return v, nil
	case bodyVersion > 0:
		return bodyVersion, nil
	}
	return 0, fail(http.StatusPreconditionRequired, "required",
		`an update names the version it replaces: send If-Match: W/"<versionId>" (or meta.versionId); a blind overwrite is refused`)
}

// createRecord creates the resource body of type t through repo and
// returns it as stored. With ifNoneExist (identifier=[system]|value) it
// creates nothing when one resource matches (returned with status 200)
// and fails with 412 when several do.
func (x *server) createRecord(ctx context.Context, repo *ehr.Repository, t *resourceType, body []byte, ifNoneExist string) (written, error) {
	body, _, err := takeReason(body)
	if err != nil {
		return written{}, err
	}
	v, stays, err := decodeFor(t, body)
	if err != nil {
		return written{}, err
	}
	if strings.TrimSpace(ifNoneExist) != "" {
		found, ok, err := x.match(ctx, repo, t, ifNoneExist)
		if err != nil || ok {
			return found, err
		}
	}
	const created = http.StatusCreated
	if isImport(ctx, v, stays) {
		return importRecord(ctx, repo, t, v, stays)
	}
	switch rec := v.(type) {
	case ehr.Patient:
		if rec.Status == ehr.StatusEnteredInError {
			return written{}, unsupported(statusPath(t), "a new patient is not entered in error")
		}
		rec.ID, rec.TenantID, rec.Status, rec.Version, rec.CreatedAt, rec.UpdatedAt = "", "", "", 0, time.Time{}, time.Time{}
		p, err := repo.RegisterPatient(ctx, rec)
		if err != nil {
			return written{}, err
		}
		return wrote(t, p, created)

	case ehr.Practitioner:
		p, err := fhirmap.CreatePractitioner(ctx, repo, rec)
		if err != nil {
			return written{}, err
		}
		return wrote(t, p, created)

	case ehr.Encounter: // in progress, in one ward and bed (isImport)
		var e ehr.Encounter
		if rec.Class == ehr.ClassInpatient {
			e, err = repo.Admit(ctx, ehr.Admission{PatientID: rec.PatientID, AttendingID: rec.PractitionerID, Ward: rec.Ward,
				Bed: rec.Bed, Reason: rec.Reason, At: rec.StartedAt})
		} else {
			e, err = repo.StartEncounter(ctx, ehr.Encounter{PatientID: rec.PatientID, Class: rec.Class, PractitionerID: rec.PractitionerID,
				Ward: rec.Ward, Bed: rec.Bed, Reason: rec.Reason, StartedAt: rec.StartedAt})
		}
		if err != nil {
			return written{}, err
		}
		return wrote(t, e, created)

	case ehr.Appointment: // booked
		ap, err := repo.BookAppointment(ctx, ehr.Appointment{PatientID: rec.PatientID, PractitionerID: rec.PractitionerID,
			Start: rec.Start, End: rec.End, Reason: rec.Reason})
		if err != nil {
			return written{}, err
		}
		return wrote(t, ap, created)

	case ehr.CareTeamMember: // active
		m, err := repo.AssignCareTeam(ctx, ehr.CareTeamMember{PatientID: rec.PatientID, PractitionerID: rec.PractitionerID,
			Role: rec.Role, Reason: rec.Reason, StartsAt: rec.StartsAt, EndsAt: rec.EndsAt})
		if err != nil {
			return written{}, err
		}
		return wrote(t, m, created)

	case ehr.Condition:
		c, err := repo.RecordCondition(ctx, ehr.Condition{PatientID: rec.PatientID, EncounterID: rec.EncounterID, Code: rec.Code,
			Display: rec.Display, Status: rec.Status, OnsetDate: rec.OnsetDate, Note: rec.Note})
		if err != nil {
			return written{}, err
		}
		return wrote(t, c, created)

	case ehr.Allergy:
		al, err := repo.RecordAllergy(ctx, ehr.Allergy{PatientID: rec.PatientID, Substance: rec.Substance, Reaction: rec.Reaction,
			Severity: rec.Severity, Status: rec.Status})
		if err != nil {
			return written{}, err
		}
		return wrote(t, al, created)

	case ehr.MedicationRequest:
		m, err := repo.PrescribeMedication(ctx, ehr.MedicationRequest{PatientID: rec.PatientID, EncounterID: rec.EncounterID,
			Medication: rec.Medication, Dose: rec.Dose, DoseUnit: rec.DoseUnit, Route: rec.Route, Frequency: rec.Frequency,
			Status: rec.Status, StartsOn: rec.StartsOn, EndsOn: rec.EndsOn, Note: rec.Note})
		if err != nil {
			return written{}, err
		}
		return wrote(t, m, created)

	case ehr.Observation: // final
		obs, err := repo.RecordObservations(ctx, rec.PatientID, []ehr.Observation{newObservation(rec)})
		if err != nil {
			return written{}, flatFields(err)
		}
		return wrote(t, obs[0], created)

	case []ehr.Observation: // a blood-pressure panel: systolic, diastolic; final
		obs, err := repo.RecordObservations(ctx, rec[0].PatientID, []ehr.Observation{newObservation(rec[0]), newObservation(rec[1])})
		if err != nil {
			return written{}, flatFields(err)
		}
		return wrotePanel(t, obs[0], obs[1], created)

	case ehr.Note: // preliminary or final, by the caller
		n, err := repo.CreateNote(ctx, ehr.Note{PatientID: rec.PatientID, EncounterID: rec.EncounterID, Title: rec.Title, Body: rec.Body},
			rec.Status == ehr.NoteSigned)
		if err != nil {
			return written{}, err
		}
		return wrote(t, n, created)
	}
	return written{}, fmt.Errorf("fhir: create %s: decoded %T", t.Name, v)
}

// isImport reports whether v, a record decoded from a create's body (and
// the stays of an encounter), is a record as it stands in another system
// rather than a new act of the caller: in a state the workflow method
// does not create records in, or naming as its author, signer, recorder
// or prescriber someone other than the caller, or saying when a note was
// signed. Such a record is stored as it is by ehr.Repository.ImportRecord
// (importRecord). The others are the workflow's: an encounter in progress
// in one ward and bed, a booked appointment, an active care-team
// membership, a preliminary or final note by the caller, a final
// observation, a condition, allergy or prescription by the caller (or by
// no one named), which the create method records now, by the caller.
// Patients and practitioners are never imported.
func isImport(ctx context.Context, v any, stays []r4.Stay) bool {
	actor, _ := ehr.ActorFromContext(ctx)
	other := func(who string) bool { return who != "" && who != actor.Principal.UserID }
	eie := func(status string) bool { return status == ehr.StatusEnteredInError }
	switch rec := v.(type) {
	case ehr.Encounter:
		return rec.Status != ehr.EncounterInProgress || rec.EndedAt != nil || rec.Disposition != "" || len(stays) > 1
	case ehr.Appointment:
		return rec.Status != ehr.AppointmentBooked
	case ehr.CareTeamMember:
		return rec.Status != ehr.CareTeamActive
	case ehr.Note:
		return (rec.Status != ehr.NoteDraft && rec.Status != ehr.NoteSigned) || rec.SignedAt != nil || other(rec.AuthorID) || other(rec.SignedBy)
	case ehr.Condition:
		return eie(rec.Status) || other(rec.RecordedBy)
	case ehr.Allergy:
		return eie(rec.Status) || other(rec.RecordedBy)
	case ehr.MedicationRequest:
		return eie(rec.Status) || other(rec.PrescriberID)
	case ehr.Observation:
		return rec.Status != "final" || other(rec.RecordedBy)
	case []ehr.Observation:
		return slices.ContainsFunc(rec, func(o ehr.Observation) bool { return isImport(ctx, o, nil) })
	}
	return false
}

// importRecord stores v (isImport) with ehr.Repository.ImportRecord
// (fhirmap.Import: a blood-pressure panel as its two observations, an
// admission with its location history) and answers 201 with the record
// as stored. The ehr record's id, tenant, version and change time are the
// server's; its creation time, clinical times, statuses and the people it
// names are the body's.
func importRecord(ctx context.Context, repo *ehr.Repository, t *resourceType, v any, stays []r4.Stay) (written, error) {
	recs, err := fhirmap.Import(ctx, repo, v, stays)
	if err != nil {
		return written{}, err
	}
	if len(recs) == 2 {
		return wrotePanel(t, recs[0].(ehr.Observation), recs[1].(ehr.Observation), http.StatusCreated)
	}
	return wrote(t, recs[0], http.StatusCreated)
}

// newObservation is what RecordObservations takes of a decoded
// observation: the recording, without what ehr assigns.
func newObservation(o ehr.Observation) ehr.Observation {
	return ehr.Observation{PatientID: o.PatientID, EncounterID: o.EncounterID, Category: o.Category, Code: o.Code, Display: o.Display,
		Value: o.Value, ValueText: o.ValueText, Unit: o.Unit, EffectiveAt: o.EffectiveAt}
}

// flatFields renames the fields of RecordObservations' validation error
// ("Observations[1].Value") to an observation's own ("Value"), which the
// type's field map names in FHIR.
func flatFields(err error) error {
	var ve *ehr.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	out := &ehr.ValidationError{}
	for _, f := range ve.Fields {
		if _, rest, ok := strings.Cut(f.Field, "]."); ok && strings.HasPrefix(f.Field, "Observations[") {
			f.Field = rest
		}
		out.Fields = append(out.Fields, f)
	}
	return out
}

// firstRecord is v, or the systolic observation of a panel.
func firstRecord(v any) any {
	if obs, ok := v.([]ehr.Observation); ok && len(obs) > 0 {
		return obs[0]
	}
	return v
}

// statusPath is the element of t that carries its status.
func statusPath(t *resourceType) string {
	switch t.Name {
	case "Patient":
		return "Patient.active"
	case "Condition":
		return "Condition.verificationStatus"
	case "AllergyIntolerance":
		return "AllergyIntolerance.verificationStatus"
	}
	return t.Name + ".status"
}

// match runs the search of a conditional create (If-None-Exist:
// identifier=[system]|value) through repo: a Patient by its document or
// another identifier (SearchPatients), a Practitioner by its licence or
// staff user id. It returns the one resource found (status 200) and true;
// false when none is; 412 when several are.
func (x *server) match(ctx context.Context, repo *ehr.Repository, t *resourceType, cond string) (written, bool, error) {
	const param = "If-None-Exist"
	cond = strings.TrimSpace(cond)
	if _, q, ok := strings.Cut(cond, "?"); ok {
		cond = q
	}
	q, err := url.ParseQuery(cond)
	if err != nil || len(q) != 1 || len(q["identifier"]) != 1 {
		return written{}, false, badParam(param, "only identifier=[system]|value is supported")
	}
	system, value, ok := strings.Cut(q.Get("identifier"), "|")
	if !ok {
		system, value = "", system
	}
	if value == "" {
		return written{}, false, badParam(param, "the identifier has no value")
	}
	var ids []string
	switch t.Name {
	case "Patient":
		pq := ehr.PatientQuery{DocumentNumber: value, Limit: 2}
		switch {
		case system == "":
		case strings.HasPrefix(system, r4.SystemDocumentPrefix):
			pq.IdentifierSystem = strings.TrimPrefix(system, r4.SystemDocumentPrefix)
		case strings.HasPrefix(system, r4.SystemIdentifierPrefix):
			pq.IdentifierSystem = strings.TrimPrefix(system, r4.SystemIdentifierPrefix)
		default:
			return written{}, false, nil // a system Historia stores no identifier of
		}
		page, err := repo.SearchPatients(ctx, pq)
		if errors.Is(err, ehr.ErrInvalid) {
			return written{}, false, badParam(param, "the identifier is not one a patient can have")
		}
		if err != nil {
			return written{}, false, err
		}
		for _, p := range page.Patients {
			ids = append(ids, p.ID)
		}
	case "Practitioner":
		if system != "" && system != r4.SystemLicense && system != r4.SystemUser {
			return written{}, false, nil
		}
		list, err := repo.ListPractitioners(ctx, false)
		if err != nil {
			return written{}, false, err
		}
		for _, p := range list {
			if (system != r4.SystemUser && p.License != "" && p.License == strings.TrimSpace(value)) ||
				(system != r4.SystemLicense && p.UserID == strings.TrimSpace(value)) {
				ids = append(ids, p.ID)
			}
		}
	default:
		return written{}, false, badParam(param, "conditional create is supported for Patient and Practitioner, by identifier")
	}
	switch len(ids) {
	case 0:
		return written{}, false, nil
	case 1:
		v, body, err := x.with(repo).current(ctx, t, ids[0])
		if err != nil {
			return written{}, false, err
		}
		m := metaOf(v)
		return written{t: t, status: http.StatusOK, id: m.ID, version: m.Version, updated: m.Updated, body: body}, true, nil
	}
	return written{}, false, &outcome{status: http.StatusPreconditionFailed, code: "multiple-matches", expr: param,
		diag: "If-None-Exist: several resources match: nothing was created"}
}

// updater tracks the steps of an update: the version the next ehr
// operation names, and what the last one returned.
type updater struct {
	// ver is the version the next step names: the one read, then each
	// step's new one.
	ver int
	// rec is the whole record the last step returned (nil when it
	// returned its version only, or when the type is encoded from its
	// history: an encounter).
	rec any
	// n counts the steps done.
	n int
}

// did records the result of a step that named u.ver: its new version and
// record, or its error (412 for a stale version).
func (u *updater) did(version int, rec any, err error) error {
	if err != nil {
		return staleOr(err, u.ver)
	}
	u.ver, u.rec, u.n = version, rec, u.n+1
	return nil
}

// updateRecord applies the resource body, the new state of t/id, through
// repo, and returns the new version (the current one when nothing
// changed). ifMatch is the If-Match header ("" for none).
func (x *server) updateRecord(ctx context.Context, repo *ehr.Repository, t *resourceType, id string, body []byte, ifMatch string) (written, error) {
	body, reason, err := takeReason(body)
	if err != nil {
		return written{}, err
	}
	v, _, err := decodeFor(t, body)
	if err != nil {
		return written{}, err
	}
	m := metaOf(firstRecord(v))
	switch {
	case m.ID == "":
		return written{}, &outcome{status: http.StatusBadRequest, code: "required", expr: t.Name + ".id",
			diag: t.Name + ".id is required in an update: the id in the URL"}
	case m.ID != id:
		return written{}, &outcome{status: http.StatusBadRequest, code: "invalid", expr: t.Name + ".id",
			diag: t.Name + ".id is not the id in the URL"}
	}
	want, err := versionToMatch(ifMatch, m.Version)
	if err != nil {
		return written{}, err
	}
	y := x.with(repo)
	cur, curBody, err := y.current(ctx, t, id)
	if err != nil {
		return written{}, err // ids are the server's: an unknown id is 404, never created
	}
	cm := metaOf(cur)
	if cm.Version != want {
		return written{}, stale(cm.Version, nil)
	}
	if panel, ok := v.([]ehr.Observation); ok {
		return y.updatePanel(ctx, repo, t, cur.(ehr.Observation), want, panel, reason)
	}
	if cm.Status == ehr.StatusEnteredInError && metaOf(v).Status != ehr.StatusEnteredInError {
		return written{}, unsupported(statusPath(t), "a record entered in error stays so")
	}
	u := &updater{ver: want}
	switch nw := v.(type) {
	case ehr.Patient:
		err = updatePatient(ctx, repo, u, cur.(ehr.Patient), nw, reason)
	case ehr.Practitioner:
		err = updatePractitioner(ctx, repo, u, cur.(ehr.Practitioner), nw)
	case ehr.Encounter:
		err = updateEncounter(ctx, repo, u, cur.(ehr.Encounter), nw, reason)
	case ehr.Appointment:
		err = updateAppointment(ctx, repo, u, cur.(ehr.Appointment), nw, reason)
	case ehr.CareTeamMember:
		err = updateCareTeam(ctx, repo, u, cur.(ehr.CareTeamMember), nw, reason)
	case ehr.Condition:
		err = updateCondition(ctx, repo, u, cur.(ehr.Condition), nw, reason)
	case ehr.Allergy:
		err = updateAllergy(ctx, repo, u, cur.(ehr.Allergy), nw, reason)
	case ehr.MedicationRequest:
		err = updateMedication(ctx, repo, u, cur.(ehr.MedicationRequest), nw, reason)
	case ehr.Observation:
		err = updateObservation(ctx, repo, u, cur.(ehr.Observation), nw, reason)
	case ehr.Note:
		err = updateNote(ctx, repo, u, cur.(ehr.Note), nw, reason)
	default:
		err = fmt.Errorf("fhir: update %s: decoded %T", t.Name, v)
	}
	if err != nil {
		return written{}, err
	}
	if u.n == 0 {
		// Nothing to write; still only for who may update it (a refusal
		// is audited as any refused update).
		if t.Kind != 0 {
			if err := repo.Authorize(ctx, rbac.ActionUpdate, x.readKind(ctx, t), cm.PatientID); err != nil {
				return written{}, err
			}
		}
		return written{t: t, status: http.StatusOK, id: id, version: cm.Version, updated: cm.Updated, body: curBody}, nil
	}
	if u.rec != nil {
		return wrote(t, u.rec, http.StatusOK)
	}
	nv, nbody, err := y.current(ctx, t, id)
	if err != nil {
		return written{}, err
	}
	nm := metaOf(nv)
	return written{t: t, status: http.StatusOK, id: id, version: nm.Version, updated: nm.Updated, body: nbody}, nil
}

// errorRef is the RecordRef by which MarkEnteredInError names record
// id of patient pid of kind k, at the version the next step names.
func errorRef(u *updater, k rbac.Kind, pid, id string) ehr.RecordRef {
	return ehr.RecordRef{Kind: k, PatientID: pid, ID: id, Version: u.ver}
}

// markError marks the record entered in error with reason (or
// defaultErrorReason).
func markError(ctx context.Context, repo *ehr.Repository, u *updater, ref ehr.RecordRef, reason string) error {
	if strings.TrimSpace(reason) == "" {
		reason = defaultErrorReason
	}
	v, err := repo.MarkEnteredInError(ctx, ref, reason)
	return u.did(v, nil, err)
}

// sameDay reports whether a and b are the same calendar date (UTC).
func sameDay(a, b time.Time) bool {
	ay, am, ad := a.UTC().Date()
	by, bm, bd := b.UTC().Date()
	return ay == by && am == bm && ad == bd && a.IsZero() == b.IsZero()
}

// sameDayPtr is sameDay of optional dates.
func sameDayPtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return sameDay(*a, *b)
}

// sameTimePtr reports whether a and b are the same instant, or both nil.
func sameTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// sameFloatPtr reports whether a and b are the same number, or both nil.
func sameFloatPtr(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// updatePatient: identity changes (document, identifiers, names, birth
// date, sex) → UpdatePatient (with the contact data); contact changes
// alone → UpdateContact (which a patient may make on their own record);
// active false → MarkEnteredInError (KindDemographics).
func updatePatient(ctx context.Context, repo *ehr.Repository, u *updater, cur, nw ehr.Patient, reason string) error {
	identity := cur.DocumentType != nw.DocumentType || cur.DocumentNumber != nw.DocumentNumber ||
		!slices.Equal(cur.Identifiers, nw.Identifiers) || cur.GivenNames != nw.GivenNames || cur.FamilyNames != nw.FamilyNames ||
		!sameDay(cur.BirthDate, nw.BirthDate) || cur.Sex != nw.Sex
	contact := cur.Contact != nw.Contact || cur.Emergency != nw.Emergency
	switch {
	case identity:
		p := nw
		p.ID, p.TenantID, p.Version = cur.ID, cur.TenantID, u.ver
		out, err := repo.UpdatePatient(ctx, p)
		if err := u.did(out.Version, out, err); err != nil {
			return err
		}
	case contact:
		v, err := repo.UpdateContact(ctx, cur.ID, u.ver, nw.Contact, nw.Emergency)
		if err := u.did(v, nil, err); err != nil {
			return err
		}
	}
	if nw.Status == ehr.StatusEnteredInError && cur.Status != ehr.StatusEnteredInError {
		return markError(ctx, repo, u, errorRef(u, rbac.KindDemographics, cur.ID, cur.ID), reason)
	}
	return nil
}

// updatePractitioner: name, specialty, licence, active → UpdatePractitioner.
// The staff user a practitioner is linked to does not change.
func updatePractitioner(ctx context.Context, repo *ehr.Repository, u *updater, cur, nw ehr.Practitioner) error {
	if nw.UserID != "" && nw.UserID != cur.UserID {
		return unsupported("Practitioner.identifier", "the staff user of a practitioner cannot change")
	}
	if nw.Name == cur.Name && nw.Specialty == cur.Specialty && nw.License == cur.License && nw.Active == cur.Active {
		return nil
	}
	out, err := repo.UpdatePractitioner(ctx, ehr.Practitioner{ID: cur.ID, UserID: cur.UserID, Name: nw.Name, Specialty: nw.Specialty,
		License: nw.License, Active: nw.Active, Version: u.ver})
	if errors.Is(err, ehr.ErrConflict) {
		return stale(0, err) // UpdatePractitioner's one conflict is a stale version
	}
	return u.did(out.Version, out, err)
}

// updateEncounter: ward, bed or attending of an admission → Transfer;
// status finished → Discharge (an admission, with the disposition) or
// FinishEncounter; entered-in-error → MarkEnteredInError (KindAdmission
// for an admission, KindEncounter otherwise). The subject, class, start,
// reason cannot change, nor the attending of an ambulatory or emergency
// encounter; period.end is recorded by ehr when the encounter finishes
// (a value given then is ignored).
func updateEncounter(ctx context.Context, repo *ehr.Repository, u *updater, cur, nw ehr.Encounter, reason string) error {
	switch {
	case nw.PatientID != cur.PatientID:
		return unsupported("Encounter.subject", "cannot change")
	case nw.Class != cur.Class:
		return unsupported("Encounter.class", "cannot change")
	case !nw.StartedAt.Equal(cur.StartedAt):
		return unsupported("Encounter.period.start", "cannot change")
	case nw.Reason != cur.Reason:
		return unsupported("Encounter.reasonCode", "cannot change")
	}
	inpatient := cur.Class == ehr.ClassInpatient
	ref := func() ehr.EncounterRef { return ehr.EncounterRef{PatientID: cur.PatientID, ID: cur.ID, Version: u.ver} }
	if nw.Ward != cur.Ward || nw.Bed != cur.Bed || nw.PractitionerID != cur.PractitionerID {
		switch {
		case !inpatient && nw.PractitionerID != cur.PractitionerID:
			return unsupported("Encounter.participant", "the attending of an ambulatory or emergency encounter cannot change")
		case !inpatient:
			return unsupported("Encounter.location", "only an admission moves (a transfer)")
		case nw.PractitionerID == "":
			return unsupported("Encounter.participant", "an admission keeps an attending")
		}
		attending := ""
		if nw.PractitionerID != cur.PractitionerID {
			attending = nw.PractitionerID
		}
		e, err := repo.Transfer(ctx, ref(), nw.Ward, nw.Bed, attending)
		if err := u.did(e.Version, nil, err); err != nil {
			return err
		}
	}
	if nw.Status == cur.Status {
		switch {
		case nw.Disposition != cur.Disposition:
			return unsupported("Encounter.hospitalization.dischargeDisposition", "is given when the encounter is finished, and then kept")
		case !sameTimePtr(nw.EndedAt, cur.EndedAt):
			return unsupported("Encounter.period.end", "is recorded when the encounter is finished, and then kept")
		}
		return nil
	}
	switch nw.Status {
	case ehr.EncounterFinished:
		if !inpatient && nw.Disposition != "" {
			return unsupported("Encounter.hospitalization.dischargeDisposition", "only an admission has a discharge disposition")
		}
		var e ehr.Encounter
		var err error
		if inpatient {
			e, err = repo.Discharge(ctx, ref(), nw.Disposition)
		} else {
			e, err = repo.FinishEncounter(ctx, ref())
		}
		return u.did(e.Version, nil, err)
	case ehr.StatusEnteredInError:
		k := rbac.KindEncounter
		if inpatient {
			k = rbac.KindAdmission
		}
		return markError(ctx, repo, u, errorRef(u, k, cur.PatientID, cur.ID), reason)
	case ehr.EncounterCancelled:
		return unsupported("Encounter.status", "Historia does not cancel encounters: mark it entered-in-error")
	}
	return unsupported("Encounter.status", "cannot go from %s to %s", cur.Status, nw.Status)
}

// updateAppointment: start or end → RescheduleAppointment; status arrived
// → CheckIn, fulfilled or noshow → CloseAppointment, cancelled →
// CancelAppointment (with the change reason), entered-in-error →
// MarkEnteredInError. The patient, the practitioner and the reason cannot
// change.
func updateAppointment(ctx context.Context, repo *ehr.Repository, u *updater, cur, nw ehr.Appointment, reason string) error {
	switch {
	case nw.PatientID != cur.PatientID || nw.PractitionerID != cur.PractitionerID:
		return unsupported("Appointment.participant", "the patient and the practitioner cannot change")
	case nw.Reason != cur.Reason:
		return unsupported("Appointment.reasonCode", "cannot change")
	}
	ref := func() ehr.RecordRef {
		return ehr.RecordRef{Kind: rbac.KindAppointment, PatientID: cur.PatientID, ID: cur.ID, Version: u.ver}
	}
	if !nw.Start.Equal(cur.Start) || !nw.End.Equal(cur.End) {
		ap, err := repo.RescheduleAppointment(ctx, ref(), nw.Start, nw.End)
		if err := u.did(ap.Version, ap, err); err != nil {
			return err
		}
	}
	if nw.Status == cur.Status {
		return nil
	}
	var ap ehr.Appointment
	var err error
	switch nw.Status {
	case ehr.AppointmentArrived:
		ap, err = repo.CheckIn(ctx, ref())
	case ehr.AppointmentFulfilled, ehr.AppointmentNoShow:
		ap, err = repo.CloseAppointment(ctx, ref(), nw.Status)
	case ehr.AppointmentCancelled:
		ap, err = repo.CancelAppointment(ctx, ref(), reason)
	case ehr.StatusEnteredInError:
		return markError(ctx, repo, u, errorRef(u, rbac.KindAppointment, cur.PatientID, cur.ID), reason)
	default:
		return unsupported("Appointment.status", "cannot go from %s to %s", fhirAppointmentStatus(cur.Status), fhirAppointmentStatus(nw.Status))
	}
	return u.did(ap.Version, ap, err)
}

// fhirAppointmentStatus is the FHIR code of an ehr appointment status.
func fhirAppointmentStatus(s string) string {
	if s == ehr.AppointmentNoShow {
		return "noshow"
	}
	return s
}

// updateCareTeam: status inactive → EndCareTeam (with the change reason;
// ehr records the end now, a period.end given then is ignored);
// entered-in-error → MarkEnteredInError. Nothing else of a membership
// changes.
func updateCareTeam(ctx context.Context, repo *ehr.Repository, u *updater, cur, nw ehr.CareTeamMember, reason string) error {
	switch {
	case nw.PatientID != cur.PatientID:
		return unsupported("CareTeam.subject", "cannot change")
	case nw.PractitionerID != cur.PractitionerID:
		return unsupported("CareTeam.participant.member", "cannot change")
	case nw.Role != cur.Role:
		return unsupported("CareTeam.participant.role", "cannot change")
	case nw.Reason != cur.Reason:
		return unsupported("CareTeam.reasonCode", "cannot change")
	case !nw.StartsAt.Equal(cur.StartsAt):
		return unsupported("CareTeam.period.start", "cannot change")
	}
	if nw.Status == cur.Status {
		if !sameTimePtr(nw.EndsAt, cur.EndsAt) {
			return unsupported("CareTeam.period.end", "cannot change: end the membership with status inactive")
		}
		return nil
	}
	ref := ehr.RecordRef{Kind: rbac.KindCareTeam, PatientID: cur.PatientID, ID: cur.ID, Version: u.ver}
	switch nw.Status {
	case ehr.CareTeamEnded:
		v, err := repo.EndCareTeam(ctx, ref, reason)
		return u.did(v, nil, err)
	case ehr.StatusEnteredInError:
		return markError(ctx, repo, u, ref, reason)
	}
	return unsupported("CareTeam.status", "an ended membership is not reopened: assign the practitioner again")
}

// changeThenMark applies an update whose body may also say
// entered-in-error (eie): the other changes first (update, when changed),
// then, unless the record is entered in error already, the mark
// (MarkEnteredInError of kind k with reason), each a version of its own.
func changeThenMark(ctx context.Context, repo *ehr.Repository, u *updater, k rbac.Kind, pid, id, curStatus string, eie, changed bool,
	reason string, update func() (int, error)) error {
	if changed {
		v, err := update()
		if err := u.did(v, nil, err); err != nil {
			return err
		}
	}
	if eie && curStatus != ehr.StatusEnteredInError {
		return markError(ctx, repo, u, errorRef(u, k, pid, id), reason)
	}
	return nil
}

// updateCondition: code, display, clinical status, onset, note →
// UpdateCondition; entered-in-error → MarkEnteredInError (after the other
// changes, if any). The subject and the encounter cannot change.
func updateCondition(ctx context.Context, repo *ehr.Repository, u *updater, cur, nw ehr.Condition, reason string) error {
	switch {
	case nw.PatientID != cur.PatientID:
		return unsupported("Condition.subject", "cannot change")
	case nw.EncounterID != cur.EncounterID:
		return unsupported("Condition.encounter", "cannot change")
	}
	eie := nw.Status == ehr.StatusEnteredInError
	if eie {
		nw.Status = cur.Status
	}
	changed := nw.Code != cur.Code || nw.Display != cur.Display || nw.Status != cur.Status || !sameDayPtr(nw.OnsetDate, cur.OnsetDate) || nw.Note != cur.Note
	return changeThenMark(ctx, repo, u, rbac.KindCondition, cur.PatientID, cur.ID, cur.Status, eie, changed, reason, func() (int, error) {
		return repo.UpdateCondition(ctx, ehr.Condition{ID: cur.ID, PatientID: cur.PatientID, Code: nw.Code, Display: nw.Display, Status: nw.Status,
			OnsetDate: nw.OnsetDate, Note: nw.Note, Version: u.ver})
	})
}

// updateAllergy: substance, reaction, severity, clinical status →
// UpdateAllergy; entered-in-error → MarkEnteredInError. The patient
// cannot change.
func updateAllergy(ctx context.Context, repo *ehr.Repository, u *updater, cur, nw ehr.Allergy, reason string) error {
	if nw.PatientID != cur.PatientID {
		return unsupported("AllergyIntolerance.patient", "cannot change")
	}
	eie := nw.Status == ehr.StatusEnteredInError
	if eie {
		nw.Status = cur.Status
	}
	changed := nw.Substance != cur.Substance || nw.Reaction != cur.Reaction || nw.Severity != cur.Severity || nw.Status != cur.Status
	return changeThenMark(ctx, repo, u, rbac.KindAllergy, cur.PatientID, cur.ID, cur.Status, eie, changed, reason, func() (int, error) {
		return repo.UpdateAllergy(ctx, ehr.Allergy{ID: cur.ID, PatientID: cur.PatientID, Substance: nw.Substance,
			Reaction: nw.Reaction, Severity: nw.Severity, Status: nw.Status, Version: u.ver})
	})
}

// updateMedication: medication, dose, route, frequency, status, dates,
// note → UpdateMedication; entered-in-error → MarkEnteredInError. The
// subject and the encounter cannot change.
func updateMedication(ctx context.Context, repo *ehr.Repository, u *updater, cur, nw ehr.MedicationRequest, reason string) error {
	switch {
	case nw.PatientID != cur.PatientID:
		return unsupported("MedicationRequest.subject", "cannot change")
	case nw.EncounterID != cur.EncounterID:
		return unsupported("MedicationRequest.encounter", "cannot change")
	}
	eie := nw.Status == ehr.StatusEnteredInError
	if eie {
		nw.Status = cur.Status
	}
	changed := nw.Medication != cur.Medication || nw.Dose != cur.Dose || nw.DoseUnit != cur.DoseUnit || nw.Route != cur.Route ||
		nw.Frequency != cur.Frequency || nw.Status != cur.Status || !sameDayPtr(nw.StartsOn, cur.StartsOn) ||
		!sameDayPtr(nw.EndsOn, cur.EndsOn) || nw.Note != cur.Note
	return changeThenMark(ctx, repo, u, rbac.KindMedication, cur.PatientID, cur.ID, cur.Status, eie, changed, reason, func() (int, error) {
		return repo.UpdateMedication(ctx, ehr.MedicationRequest{ID: cur.ID, PatientID: cur.PatientID, Medication: nw.Medication,
			Dose: nw.Dose, DoseUnit: nw.DoseUnit, Route: nw.Route, Frequency: nw.Frequency, Status: nw.Status,
			StartsOn: nw.StartsOn, EndsOn: nw.EndsOn, Note: nw.Note, Version: u.ver})
	})
}

// updateObservation: category, code, display, value, unit, time →
// UpdateObservation (whose status becomes amended; the status final or
// amended of the body is not a change); entered-in-error →
// MarkEnteredInError. The subject and the encounter cannot change.
func updateObservation(ctx context.Context, repo *ehr.Repository, u *updater, cur, nw ehr.Observation, reason string) error {
	switch {
	case nw.PatientID != cur.PatientID:
		return unsupported("Observation.subject", "cannot change")
	case nw.EncounterID != cur.EncounterID:
		return unsupported("Observation.encounter", "cannot change")
	}
	eie := nw.Status == ehr.StatusEnteredInError
	changed := nw.Category != cur.Category || nw.Code != cur.Code || nw.Display != cur.Display || !sameFloatPtr(nw.Value, cur.Value) ||
		nw.ValueText != cur.ValueText || nw.Unit != cur.Unit || !nw.EffectiveAt.Equal(cur.EffectiveAt)
	if eie && nw.Value == nil && nw.ValueText == "" {
		changed = false // an observation marked in error may be sent without its value
	}
	if changed {
		v, err := repo.UpdateObservation(ctx, ehr.Observation{ID: cur.ID, PatientID: cur.PatientID, Category: nw.Category, Code: nw.Code,
			Display: nw.Display, Value: nw.Value, ValueText: nw.ValueText, Unit: nw.Unit, EffectiveAt: nw.EffectiveAt, Version: u.ver})
		if err := u.did(v, nil, err); err != nil {
			return err
		}
	}
	if eie && cur.Status != ehr.StatusEnteredInError {
		return markError(ctx, repo, u, errorRef(u, rbac.KindObservation, cur.PatientID, cur.ID), reason)
	}
	return nil
}

// updatePanel updates a blood-pressure panel: its systolic observation
// (cur, at version want, which the update named and updateRecord
// checked) and its diastolic one, which the diastolic component names
// with its record id and version (extensions record-id, record-version),
// each as updateObservation does. It answers the panel.
func (x *server) updatePanel(ctx context.Context, repo *ehr.Repository, t *resourceType, cur ehr.Observation, want int,
	panel []ehr.Observation, reason string) (written, error) {
	s, d := panel[0], panel[1]
	switch {
	case d.ID == "":
		return written{}, &outcome{status: http.StatusBadRequest, code: "required", expr: "Observation.component",
			diag: "the diastolic component names its observation (extension " + r4.ExtRecordID + ")"}
	case d.Version == 0:
		return written{}, fail(http.StatusPreconditionRequired, "required",
			"the diastolic component names the version read (extension %s)", r4.ExtRecordVersion)
	}
	dv, _, err := x.current(ctx, t, d.ID)
	if err != nil {
		return written{}, err
	}
	curD := dv.(ehr.Observation)
	if curD.Version != d.Version {
		return written{}, stale(curD.Version, nil)
	}
	for _, c := range []ehr.Observation{cur, curD} {
		if c.Status == ehr.StatusEnteredInError && s.Status != ehr.StatusEnteredInError {
			return written{}, unsupported("Observation.status", "a record entered in error stays so")
		}
	}
	d.Status = s.Status
	us, ud := &updater{ver: want}, &updater{ver: d.Version}
	if err := updateObservation(ctx, repo, us, cur, s, reason); err != nil {
		return written{}, err
	}
	if err := updateObservation(ctx, repo, ud, curD, d, reason); err != nil {
		return written{}, err
	}
	if us.n+ud.n == 0 {
		return wrotePanel(t, cur, curD, http.StatusOK)
	}
	sv, _, err := x.current(ctx, t, cur.ID)
	if err != nil {
		return written{}, err
	}
	if dv, _, err = x.current(ctx, t, curD.ID); err != nil {
		return written{}, err
	}
	return wrotePanel(t, sv.(ehr.Observation), dv.(ehr.Observation), http.StatusOK)
}

// updateNote maps docStatus transitions: preliminary → preliminary with a
// new title or text → UpdateNote; preliminary → final → UpdateNote (if
// the title or text changed), then SignNote; final or amended → amended
// with a new text → AmendNote, whose reason (ExtChangeReason) is
// required; → entered-in-error → MarkEnteredInError. The title of a
// signed note, its subject and encounter cannot change, nor does a final
// note go back to preliminary; a signed note's text changes by an
// amendment only.
func updateNote(ctx context.Context, repo *ehr.Repository, u *updater, cur, nw ehr.Note, reason string) error {
	switch {
	case nw.PatientID != cur.PatientID:
		return unsupported("DocumentReference.subject", "cannot change")
	case nw.EncounterID != cur.EncounterID:
		return unsupported("DocumentReference.context.encounter", "cannot change")
	}
	ref := func() ehr.RecordRef {
		return ehr.RecordRef{Kind: rbac.KindNote, PatientID: cur.PatientID, ID: cur.ID, Version: u.ver}
	}
	eie := nw.Status == ehr.StatusEnteredInError
	edited := nw.Title != cur.Title || nw.Body != cur.Body
	if cur.Status == ehr.NoteDraft {
		if nw.Status == ehr.NoteAmended {
			return unsupported("DocumentReference.docStatus", "a preliminary note is made final, not amended")
		}
		if edited {
			v, err := repo.UpdateNote(ctx, ehr.Note{ID: cur.ID, PatientID: cur.PatientID, Title: nw.Title, Body: nw.Body, Version: u.ver})
			if err := u.did(v, nil, err); err != nil {
				return err
			}
		}
		switch nw.Status {
		case ehr.NoteSigned:
			v, err := repo.SignNote(ctx, ref())
			return u.did(v, nil, err)
		case ehr.StatusEnteredInError:
			return markError(ctx, repo, u, errorRef(u, rbac.KindNote, cur.PatientID, cur.ID), reason)
		}
		return nil
	}
	// Signed, amended or entered in error.
	switch {
	case nw.Title != cur.Title:
		return unsupported("DocumentReference.description", "the title of a final note cannot change")
	case nw.Status == ehr.NoteDraft:
		return unsupported("DocumentReference.docStatus", "a final note does not go back to preliminary")
	case nw.Body != cur.Body && nw.Status != ehr.NoteAmended:
		return unsupported("DocumentReference.content", "the text of a final note changes by an amendment: docStatus amended, with the reason (extension %s)", ExtChangeReason)
	}
	if nw.Body != cur.Body {
		if strings.TrimSpace(reason) == "" {
			return unsupported("DocumentReference.extension", "an amendment gives its reason (extension %s)", ExtChangeReason)
		}
		v, err := repo.AmendNote(ctx, ref(), nw.Body, reason)
		if err := u.did(v, nil, err); err != nil {
			return err
		}
	}
	if eie && cur.Status != ehr.StatusEnteredInError {
		return markError(ctx, repo, u, errorRef(u, rbac.KindNote, cur.PatientID, cur.ID), reason)
	}
	return nil
}
