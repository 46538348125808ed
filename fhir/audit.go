package fhir

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/historiaehr/historia/ehr"
)

// Extensions of an AuditEvent that carry its place in ehr's hash chain,
// so that an exported trail can be verified offline (VerifyAuditTrail).
const (
	// ExtAuditChainID: the chain (a patient id, or for requests about no
	// single patient one of the tenant's lanes, ehr.TenantChains: lane 0
	// is the tenant id), valueString.
	ExtAuditChainID = Base + "/StructureDefinition/audit-chain-id"
	// ExtAuditChainSeq: the event's sequence number in its chain, from 1,
	// valueDecimal (an integer; R4's valueInteger has only 32 bits).
	ExtAuditChainSeq = Base + "/StructureDefinition/audit-chain-seq"
	// ExtAuditChainPrevHash: the previous event's hash, valueBase64Binary,
	// absent for the first event.
	ExtAuditChainPrevHash = Base + "/StructureDefinition/audit-chain-prev-hash"
	// ExtAuditChainHash: sha256(prev_hash || seq as 8 big-endian bytes ||
	// canonical event), valueBase64Binary.
	ExtAuditChainHash = Base + "/StructureDefinition/audit-chain-hash"
	// ExtAuditRule: the policy rule that decided, valueString.
	ExtAuditRule = Base + "/StructureDefinition/audit-rule"
	// ExtAuditRequestID: the request id, valueString.
	ExtAuditRequestID = Base + "/StructureDefinition/audit-request-id"
)

// Code systems of audit events.
const (
	SystemAuditAction = Base + "/sid/audit-action" // ehr's action, as AuditEvent.subtype
	SystemAuditKind   = Base + "/sid/audit-kind"   // the kind of record, as entity.type
	SystemRecord      = Base + "/sid/record"       // record ids, as entity.what.identifier
	SystemRole        = Base + "/sid/role"         // the user's roles, as agent.role
	SystemDICOM       = "http://dicom.nema.org/resources/ontology/DCM"
	SystemActReason   = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
)

// auditActions maps ehr actions to AuditEvent.action (C, R, U, D, E).
var auditActions = map[string]string{
	"read": "R", "search": "R", "verify": "R", "create": "C", "admit": "C", "schedule": "C", "import": "C", "export": "R",
	"update": "U", "amend": "U", "sign": "U", "transfer": "U", "discharge": "U", "cancel": "U", "check-in": "U",
}

// EncodeAuditEvent returns e as a FHIR R4 AuditEvent (read-only: ehr writes
// audit events itself): type DCM 110110 "Patient Record", ehr's action as
// subtype and as C/R/U/E, recorded, outcome 0 (allowed) or 4 (denied) with
// the reason as outcomeDesc, purposeOfEvent BTG with the grant's reason for
// a break-glass access, the user (SystemUser), roles and IP as the agent,
// the record and its kind as entity, and the chain, sequence number, rule,
// request id and both hashes as extensions (ExtAuditChain*), so that
// VerifyAuditTrail can recompute the chain.
func EncodeAuditEvent(e ehr.AuditEvent) ([]byte, error) {
	if e.ChainID == "" || len(e.Hash) == 0 || e.TenantID == "" {
		return nil, errf("audit event %s: chain, tenant and hash are required", e.ID)
	}
	r := auditEventResource{resourceBase: recordBase("AuditEvent", e.ID, e.TenantID, 0, time.Time{}, time.Time{})}
	seq := json.Number(fmt.Sprint(e.Seq))
	r.Extension = append(r.Extension,
		extension{URL: ExtAuditChainID, ValueString: optString(e.ChainID)},
		extension{URL: ExtAuditChainSeq, ValueDecimal: &seq})
	if len(e.PrevHash) > 0 {
		r.Extension = append(r.Extension, extension{URL: ExtAuditChainPrevHash, ValueBase64Binary: strp(base64.StdEncoding.EncodeToString(e.PrevHash))})
	}
	r.Extension = append(r.Extension, extension{URL: ExtAuditChainHash, ValueBase64Binary: strp(base64.StdEncoding.EncodeToString(e.Hash))})
	if e.Rule != "" {
		r.Extension = append(r.Extension, extension{URL: ExtAuditRule, ValueString: &e.Rule})
	}
	if e.RequestID != "" {
		r.Extension = append(r.Extension, extension{URL: ExtAuditRequestID, ValueString: &e.RequestID})
	}
	r.Type = coding{System: SystemDICOM, Code: "110110", Display: "Patient Record"}
	if e.Action != "" {
		r.Subtype = []coding{{System: SystemAuditAction, Code: e.Action}}
		if r.Action = auditActions[e.Action]; r.Action == "" {
			r.Action = "E"
		}
	}
	r.Recorded = instant(e.OccurredAt)
	switch e.Outcome {
	case ehr.OutcomeAllowed:
		r.Outcome = "0"
	case ehr.OutcomeDenied:
		r.Outcome = "4"
	case ehr.OutcomeNotFound:
		// 8, serious failure: the request named a patient or record that
		// is not in the tenant (a scan of ids leaves this trail).
		r.Outcome = "8"
	default:
		return nil, errf("audit event %s: unknown outcome %q", e.ID, e.Outcome)
	}
	if e.BreakGlass {
		r.PurposeOfEvent = []codeableConcept{{Coding: []coding{{System: SystemActReason, Code: "BTG", Display: "break the glass"}}, Text: e.Reason}}
	} else {
		r.OutcomeDesc = e.Reason
	}
	agent := auditAgent{Requestor: true}
	if e.UserID != "" {
		agent.Who = &reference{Identifier: &identifier{System: SystemUser, Value: e.UserID}}
	}
	for _, role := range e.Roles {
		agent.Role = append(agent.Role, codeableConcept{Coding: []coding{{System: SystemRole, Code: role}}})
	}
	if e.IP != "" {
		agent.Network = &auditNetwork{Address: e.IP, Type: "2"}
	}
	r.Agent = []auditAgent{agent}
	r.Source = auditSource{Observer: reference{Display: "Historia"}}
	ent := auditEntity{}
	if e.RecordID != "" {
		ent.What = &reference{Identifier: &identifier{System: SystemRecord, Value: e.RecordID}}
	}
	if e.Kind != "" {
		ent.Type = &coding{System: SystemAuditKind, Code: e.Kind}
	}
	if ent.What != nil || ent.Type != nil {
		r.Entity = []auditEntity{ent}
	}
	return json.Marshal(r)
}

// DecodeAuditEvent maps a FHIR AuditEvent written by EncodeAuditEvent back
// to the ehr.AuditEvent, for verification; ehr never stores it. It returns
// an *OperationOutcome.
func DecodeAuditEvent(data []byte) (ehr.AuditEvent, error) {
	var r auditEventResource
	if err := decodeStrict(data, "AuditEvent", &r); err != nil {
		return ehr.AuditEvent{}, err
	}
	d := decoder{rt: "AuditEvent", own: []string{ExtAuditChainID, ExtAuditChainSeq, ExtAuditChainPrevHash, ExtAuditChainHash, ExtAuditRule, ExtAuditRequestID}}
	var e ehr.AuditEvent
	var version int
	var created, updated time.Time
	d.base(r.resourceBase, &e.ID, &e.TenantID, &version, &created, &updated)
	if r.Meta != nil || !created.IsZero() {
		d.add(IssueNotSupported, d.at("meta"), "an audit event has no meta or created extension")
	}
	hash := func(ext extension, loc string) []byte {
		b, err := base64.StdEncoding.DecodeString(d.extString(ext, ext.ValueBase64Binary, loc, "valueBase64Binary"))
		if err != nil {
			d.add(IssueValue, path(loc, "valueBase64Binary"), "is not base64")
		}
		return b
	}
	var hasSeq bool
	for i, ext := range r.Extension {
		loc := d.at("extension", i)
		switch ext.URL {
		case ExtAuditChainID:
			e.ChainID = d.extString(ext, ext.ValueString, loc, "valueString")
		case ExtAuditChainSeq:
			if ext.ValueDecimal == nil {
				d.add(IssueRequired, path(loc, "valueDecimal"), "is required")
				continue
			}
			n, err := ext.ValueDecimal.Int64()
			if err != nil || n < 1 {
				d.add(IssueValue, path(loc, "valueDecimal"), "must be a positive integer")
			}
			e.Seq, hasSeq = n, true
		case ExtAuditChainPrevHash:
			e.PrevHash = hash(ext, loc)
		case ExtAuditChainHash:
			e.Hash = hash(ext, loc)
		case ExtAuditRule:
			e.Rule = d.extString(ext, ext.ValueString, loc, "valueString")
		case ExtAuditRequestID:
			e.RequestID = d.extString(ext, ext.ValueString, loc, "valueString")
		}
	}
	if e.ChainID == "" || !hasSeq || len(e.Hash) == 0 {
		d.add(IssueRequired, d.at("extension"), "the chain id, sequence number and hash extensions are required")
	}
	if r.Type.System != SystemDICOM || r.Type.Code != "110110" {
		d.add(IssueCodeInvalid, d.at("type"), "must be %s 110110", SystemDICOM)
	}
	for i, c := range r.Subtype {
		if c.System == SystemAuditAction {
			e.Action = c.Code
		} else {
			d.add(IssueNotSupported, d.at("subtype", i, "system"), "must be %s", SystemAuditAction)
		}
	}
	if !oneOf(r.Action, "", "C", "R", "U", "D", "E") {
		d.add(IssueCodeInvalid, d.at("action"), "%q is not C, R, U, D or E", r.Action)
	}
	e.OccurredAt = d.instant(r.Recorded, d.at("recorded"))
	switch r.Outcome {
	case "0":
		e.Outcome = ehr.OutcomeAllowed
	case "4":
		e.Outcome = ehr.OutcomeDenied
	case "8":
		e.Outcome = ehr.OutcomeNotFound
	case "12":
		d.add(IssueNotSupported, d.at("outcome"), "Historia records 0 (allowed), 4 (denied) and 8 (not found)")
	default:
		d.add(IssueCodeInvalid, d.at("outcome"), "%q is not an audit event outcome", r.Outcome)
	}
	e.Reason = r.OutcomeDesc
	for i, p := range r.PurposeOfEvent {
		if c, _ := d.code(&p, d.at("purposeOfEvent", i), SystemActReason, true, "BTG"); c == "BTG" {
			e.BreakGlass, e.Reason = true, p.Text
			if r.OutcomeDesc != "" {
				d.add(IssueNotSupported, d.at("outcomeDesc"), "a break-glass access has its reason in purposeOfEvent.text")
			}
		}
	}
	if len(r.Agent) != 1 {
		d.add(IssueNotSupported, d.at("agent"), "exactly one agent is supported")
	}
	if len(r.Agent) > 0 {
		a, loc := r.Agent[0], d.at("agent", 0)
		if a.Who != nil {
			if a.Who.Identifier == nil || a.Who.Identifier.System != SystemUser {
				d.add(IssueNotSupported, path(loc, "who"), "must be a reference by identifier of system %s", SystemUser)
			} else {
				e.UserID = a.Who.Identifier.Value
			}
		}
		for i := range a.Role {
			role, _ := d.code(&a.Role[i], path(loc, "role", i), SystemRole, true)
			e.Roles = append(e.Roles, role)
		}
		if a.Network != nil {
			e.IP = a.Network.Address
		}
	}
	if len(r.Entity) > 1 {
		d.add(IssueNotSupported, d.at("entity", 1), "only one entity is supported")
	}
	if len(r.Entity) > 0 {
		ent := r.Entity[0]
		if ent.What != nil && ent.What.Identifier != nil && ent.What.Identifier.System == SystemRecord {
			e.RecordID = ent.What.Identifier.Value
		} else if ent.What != nil {
			d.add(IssueNotSupported, d.at("entity", 0, "what"), "must be a reference by identifier of system %s", SystemRecord)
		}
		if ent.Type != nil {
			if ent.Type.System != SystemAuditKind {
				d.add(IssueNotSupported, d.at("entity", 0, "type", "system"), "must be %s", SystemAuditKind)
			}
			e.Kind = ent.Type.Code
		}
	}
	return e, d.err()
}

// canonicalVersion tags ehr's canonical encoding of an audit event.
const canonicalVersion = "historia-audit-v1"

// appendCanonical appends the canonical encoding of e, exactly as ehr
// computes it (ehr/audit.go): each of the fields below as a 4-byte
// big-endian length and the bytes, the time as UTC with microseconds.
func appendCanonical(b []byte, e *ehr.AuditEvent) []byte {
	bg := "0"
	if e.BreakGlass {
		bg = "1"
	}
	fields := [...]string{canonicalVersion, e.ID, e.TenantID, e.ChainID,
		e.OccurredAt.UTC().Format("2006-01-02T15:04:05.000000Z"), e.UserID, strings.Join(e.Roles, ","),
		e.Action, e.Kind, e.RecordID, e.Outcome, e.Rule, bg, e.Reason, e.RequestID, e.IP}
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// AuditHash returns the hash ehr stores for e: sha256(e.PrevHash ||
// e.Seq as 8 big-endian bytes || canonical encoding of e).
func AuditHash(e ehr.AuditEvent) []byte {
	h := sha256.New()
	h.Write(e.PrevHash)
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(e.Seq)))
	h.Write(appendCanonical(nil, &e))
	return h.Sum(nil)
}

// VerifyAuditTrail decodes FHIR AuditEvents (EncodeAuditEvent's output, in
// any order, of one or several chains) and recomputes every chain from
// them alone: each chain must start at sequence 1, go on without a gap or
// a repeat, link every event to the previous one's hash, and every hash
// must be the one AuditHash computes. It returns the status of each chain,
// by chain id; its Head, anchored outside the database, also detects a
// trail cut short at the end.
//
// It returns an *OperationOutcome for a resource that is not such an
// AuditEvent (its location prefixed with the resource's index), and an
// *ehr.ChainError (wrapping ehr.ErrChainBroken) for the first break.
func VerifyAuditTrail(resources [][]byte) ([]ehr.ChainStatus, error) {
	chains := map[string][]ehr.AuditEvent{}
	for i, data := range resources {
		e, err := DecodeAuditEvent(data)
		if err != nil {
			if oo, ok := err.(*OperationOutcome); ok {
				for j := range oo.Issues {
					oo.Issues[j].Location = fmt.Sprintf("[%d].%s", i, oo.Issues[j].Location)
				}
			}
			return nil, err
		}
		chains[e.ChainID] = append(chains[e.ChainID], e)
	}
	ids := make([]string, 0, len(chains))
	for id := range chains {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]ehr.ChainStatus, 0, len(ids))
	for _, id := range ids {
		evs := chains[id]
		slices.SortStableFunc(evs, func(a, b ehr.AuditEvent) int { return cmp.Compare(a.Seq, b.Seq) })
		var prev []byte
		for i, e := range evs {
			seq := int64(i + 1)
			switch {
			case e.Seq != seq:
				return nil, &ehr.ChainError{ChainID: id, Seq: seq, Problem: fmt.Sprintf("sequence gap (found %d)", e.Seq)}
			case e.TenantID != evs[0].TenantID:
				return nil, &ehr.ChainError{ChainID: id, Seq: seq, Problem: "event of another tenant"}
			case !bytes.Equal(e.PrevHash, prev):
				return nil, &ehr.ChainError{ChainID: id, Seq: seq, Problem: "previous hash does not match"}
			case !bytes.Equal(AuditHash(e), e.Hash):
				return nil, &ehr.ChainError{ChainID: id, Seq: seq, Problem: "hash mismatch: event altered"}
			}
			prev = e.Hash
		}
		out = append(out, ehr.ChainStatus{ChainID: id, Events: int64(len(evs)), Head: prev})
	}
	return out, nil
}
