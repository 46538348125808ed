package ehr

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/historiaehr/historia/rbac"
)

// The bounds of a clinician's chart (ChartView) and of a page of one of
// its sections (ChartSection).
const (
	// DefaultSectionLimit is how many rows of each section ChartView
	// reads, and ChartSection a page, unless told otherwise: a screen.
	DefaultSectionLimit = 10
	// DefaultObservationLimit is how many observations ChartView reads
	// unless told otherwise: weeks of an outpatient's vital signs, a day
	// or two of an inpatient's.
	DefaultObservationLimit = 50
	// MaxSectionLimit is the most rows of one section one read returns.
	MaxSectionLimit = 500
	// DefaultVitalsWindow is the window of observations ChartView reads
	// unless told otherwise: the last 30 days.
	DefaultVitalsWindow = 30 * 24 * time.Hour
	// CountLimit is how far a section's count counts: beyond it the
	// count stops, SectionSummary.Total is CountLimit and Capped is set
	// (a chart shows "10 of 100+"), so that no count's cost grows with a
	// patient's history. The active rows are always counted exactly.
	CountLimit = 100
)

// ChartBounds bounds a clinician's chart (ChartView). The zero value
// asks for the defaults.
type ChartBounds struct {
	// Limit is the most rows of each section but the observations
	// (default DefaultSectionLimit, at most MaxSectionLimit).
	Limit int
	// ObservationLimit is the most observations (default
	// DefaultObservationLimit, at most MaxSectionLimit).
	ObservationLimit int
	// Window is how far back from Until the observations go (default
	// DefaultVitalsWindow); a negative Window has no lower bound.
	Window time.Duration
	// Until is the end (exclusive) of the window of observations; zero
	// for none (observations dated in the future included).
	Until time.Time
}

// ChartView is a clinician's view of a chart: demographics and, for each
// section the actor may read, its most recent rows, at most the bound,
// newest first (unlike Chart, whose sections are oldest first), with its
// counts and a cursor to read more (Sections). Withheld and BreakGlass
// are as in Chart.
type ChartView struct {
	Chart
	// Sections summarizes each section read, by kind: withheld sections
	// have none.
	Sections map[rbac.Kind]SectionSummary
}

// Section returns the summary of the section of kind k (the zero
// SectionSummary when k was not read).
func (v ChartView) Section(k rbac.Kind) SectionSummary { return v.Sections[k] }

// SectionSummary is what a bounded read tells of one section of a chart.
// Counts are of the rows the actor may read in the read's window: a
// patient reading their own chart counts the notes a patient reads, an
// actor who reads the encounters in part (admissions) the inpatient ones.
// A count costs an index-only scan of the rows it counts, at most
// CountLimit of them (and of the active ones): ChartView counts the
// observations of its window only, not all time.
type SectionSummary struct {
	// Total is how many rows the section has in the window (Since,
	// Until), counted up to CountLimit.
	Total int
	// Capped is set when the window holds more than CountLimit rows:
	// Total is then CountLimit, a lower bound.
	Capped bool
	// Active is how many of them are active, for the sections that have
	// a notion of it: encounters in progress, appointments booked or
	// arrived, and the active care-team members, conditions, allergies
	// and medications. It is 0 for notes and observations.
	Active int
	// Since and Until are the window of the read on the section's time
	// (ChartSectionKinds): from Since (inclusive) to Until (exclusive),
	// the zero time for unbounded.
	Since, Until time.Time
	// Next is the cursor of the rows after the ones read (SectionQuery.
	// Cursor), "" when there are none.
	Next string
}

// SectionQuery asks ChartSection for one page of one section of a chart.
type SectionQuery struct {
	// Kind is the section: one of ChartSectionKinds.
	Kind rbac.Kind
	// Limit is the most rows (default DefaultSectionLimit, at most
	// MaxSectionLimit).
	Limit int
	// Cursor is SectionSummary.Next of the page before ("" for the most
	// recent rows). It is bound to the patient and the section, and
	// carries the window: Since and Until must then be zero.
	Cursor string
	// Since and Until bound the section's time (inclusive, exclusive;
	// zero for unbounded): the observations of a week, the notes of a
	// stay.
	Since, Until time.Time
}

// ChartSectionKinds returns the kinds of the sections of a chart, in the
// chart's order, each with the time its rows are ordered by (newest
// first in ChartView and ChartSection): encounter (start), appointment
// (start), care-team (start), note (written), condition, allergy and
// medication (recorded), observation (effective time).
func ChartSectionKinds() []rbac.Kind {
	ks := make([]rbac.Kind, len(chartSections))
	for i, s := range chartSections {
		ks[i] = s.kind
	}
	return ks
}

// boundedSQL returns the page and count statements of s in variant v.
//
// The page reads the rows from $3 (inclusive) up to the key ($4, $5)
// (exclusive), newest first, at most $6: a backward scan of the index
// (patient_id, order, id) (migration 0008) that stops after $6 rows,
// whatever the patient's history. The count reads, from a range of the
// same index only (it includes the columns the conditions read), the
// rows from $3 (inclusive) to $4 (exclusive), stopping after
// CountLimit+1 of them, and the active ones among them all.
func (s *chartSection) boundedSQL(v int) (page, count string) {
	where := s.where(v)
	page = `SELECT ` + s.columns + ` FROM ` + s.table + ` WHERE ` + where +
		` AND ` + s.order + ` >= $3 AND (` + s.order + `, id) < ($4, $5) ORDER BY ` + s.order + ` DESC, id DESC LIMIT $6`
	rows := ` FROM ` + s.table + ` WHERE ` + where + ` AND ` + s.order + ` >= $3 AND ` + s.order + ` < $4`
	first := ` LIMIT ` + strconv.Itoa(CountLimit+1) + `) r`
	if s.activeWhere == "" {
		return page, `SELECT count(*), 0 FROM (SELECT 1` + rows + first
	}
	// One scan of at most CountLimit+1 rows counts both, unless the
	// count stops there: then a second scan counts the active rows (an
	// uncorrelated subquery, which PostgreSQL runs only when that branch
	// is taken).
	count = `SELECT count(*), CASE WHEN count(*) > ` + strconv.Itoa(CountLimit) + ` THEN (SELECT count(*)` + rows + ` AND ` + s.activeWhere +
		`) ELSE count(*) FILTER (WHERE ` + s.activeWhere + `) END FROM (SELECT status` + rows + first
	return page, count
}

// sectionOf returns the section of kind k, or nil.
func sectionOf(k rbac.Kind) *chartSection {
	for i := range chartSections {
		if chartSections[i].kind == k {
			return &chartSections[i]
		}
	}
	return nil
}

// window is a time window of a bounded read: since inclusive, until
// exclusive, the zero time for unbounded.
type window struct{ since, until time.Time }

// args returns the window as statement arguments (infinite when
// unbounded).
func (w window) args() (since, until pgtype.Timestamptz) {
	since, until = pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true},
		pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	if !w.since.IsZero() {
		since = pgtype.Timestamptz{Time: w.since, Valid: true}
	}
	if !w.until.IsZero() {
		until = pgtype.Timestamptz{Time: w.until, Valid: true}
	}
	return since, until
}

// sectionPage is one bounded read of one section: where it starts (after
// the key of a cursor, else at the window's end), how many rows, and
// what it found.
type sectionPage struct {
	sectionRead
	w     window
	limit int
	after *chartCursor
	sum   SectionSummary
}

// queue queues the count and page statements of p on b for patient pid
// of tenant tid (the count first: the page's rows are then read into a
// slice of the right size).
func (p *sectionPage) queue(b *pgx.Batch, pid, tid pgtype.UUID) {
	since, until := p.w.args()
	start, startID := until, pgtype.UUID{Valid: true} // (until, the nil UUID): every row before until
	if p.after != nil {
		start, startID = pgtype.Timestamptz{Time: p.after.at, Valid: true}, pgUUID(p.after.id)
	}
	b.Queue(p.s.countSQL[p.variant], pid, tid, since, until)
	b.Queue(p.s.pageSQL[p.variant], pid, tid, since, start, startID, p.limit+1)
}

// read reads the results of the statements queue queued into c and
// p.sum; the cursor of the rows after the page names patient pid.
func (p *sectionPage) read(br pgx.BatchResults, c *Chart, pid uuid.UUID) error {
	var total, active int64
	if err := br.QueryRow().Scan(&total, &active); err != nil {
		return err
	}
	p.sum = SectionSummary{Total: int(total), Active: int(active), Since: p.w.since, Until: p.w.until}
	if total > CountLimit {
		p.sum.Total, p.sum.Capped = CountLimit, true
	}
	// At most the bound, and no more than the window holds.
	p.s.grow(c, int(min(total, int64(p.limit))))
	rows, err := br.Query()
	if err != nil {
		return err
	}
	n, more := 0, false
	for rows.Next() {
		if n == p.limit {
			more = true
			break
		}
		if err := p.s.add(c, rows); err != nil {
			rows.Close()
			return err
		}
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if more {
		at, id, ok := p.s.last(c)
		if uid, err := uuid.Parse(id); ok && err == nil {
			p.sum.Next = chartCursor{kind: p.s.kind, patient: pid, at: at, id: uid, w: p.w}.encode()
		}
	}
	return nil
}

// limits returns the section and observation limits of b, or ErrInvalid.
func (b ChartBounds) limits() (limit, obs int, err error) {
	limit, err = sectionLimit("Limit", b.Limit)
	if err != nil {
		return 0, 0, err
	}
	obs = b.ObservationLimit
	if obs == 0 {
		obs = DefaultObservationLimit
	}
	if obs, err = sectionLimit("ObservationLimit", obs); err != nil {
		return 0, 0, err
	}
	return limit, obs, nil
}

// sectionLimit returns limit n of field (DefaultSectionLimit for 0), or
// ErrInvalid outside 1 to MaxSectionLimit.
func sectionLimit(field string, n int) (int, error) {
	switch {
	case n == 0:
		return DefaultSectionLimit, nil
	case n < 0 || n > MaxSectionLimit:
		return 0, invalid(field, CodeOutOfRange, "must be between 1 and 500")
	}
	return n, nil
}

// ChartView returns a clinician's view of the chart of patient id: the
// demographics and, for each section the actor may read, its most recent
// rows within bounds, newest first, with the section's counts and a
// cursor for the rows after them (ChartSection reads on). The
// observations are the most recent of a window of time (the vital signs
// of the last 30 days by default). Its cost does not grow with the
// patient's history: each page is an index scan that stops at its bound,
// each count an index-only scan that stops after CountLimit rows
// (migration 0008); one batch, in one transaction, reads it all and
// appends the audit event, as Chart.
//
// The actor is authorized, the read audited (as "chart") and the patient
// rule applied exactly as by Chart: Withheld lists the sections the actor
// may not read (they have no summary), and a patient reading their own
// chart reads and counts only the notes a patient reads.
//
// It returns ErrInvalid for a malformed id or bounds out of range, and
// ErrNotFound and ErrDenied as Chart.
func (r *Repository) ChartView(ctx context.Context, id string, bounds ChartBounds) (ChartView, error) {
	const op = "chart view"
	if _, err := parseID("ID", id); err != nil {
		return ChartView{}, err
	}
	limit, obsLimit, err := bounds.limits()
	if err != nil {
		return ChartView{}, err
	}
	ca, err := r.chartAccess(ctx, op, id, rbac.KindDemographics)
	if err != nil {
		return ChartView{}, err
	}
	ca.a.kindName = "chart"
	obsWindow := window{until: bounds.Until}
	if bounds.Window >= 0 {
		end := bounds.Until
		if end.IsZero() {
			end = r.clock()
		}
		d := bounds.Window
		if d == 0 {
			d = DefaultVitalsWindow
		}
		obsWindow.since = end.Add(-d)
	}
	var v ChartView
	var pages []sectionPage
	err = ca.run(ctx, r, func() error {
		v = ChartView{}
		if !ca.can(rbac.KindDemographics) {
			return ca.refuse(rbac.KindDemographics)
		}
		reads := ca.plan(&v.Chart)
		pages = make([]sectionPage, len(reads))
		for i, rd := range reads {
			pages[i] = sectionPage{sectionRead: rd, limit: limit}
			if rd.s.kind == rbac.KindObservation {
				pages[i].limit, pages[i].w = obsLimit, obsWindow
			}
		}
		return r.readPages(ctx, ca, &v.Chart, pages)
	})
	if err := r.chartDone(ctx, op, id, ca, &v.Chart, err); err != nil {
		return ChartView{}, err
	}
	v.Sections = make(map[rbac.Kind]SectionSummary, len(pages))
	for i := range pages {
		v.Sections[pages[i].s.kind] = pages[i].sum
	}
	return v, nil
}

// readPages reads the patient of ca and pages in one batch, in one
// transaction with the audit event, into c.
func (r *Repository) readPages(ctx context.Context, ca *chartAccess, c *Chart, pages []sectionPage) error {
	b := newBatch(5 + 2*len(pages))
	r.queueChartPatient(b, ca)
	pid, tid := pgUUID(ca.a.patient), pgUUID(ca.a.tenant)
	for i := range pages {
		pages[i].queue(b, pid, tid)
	}
	return r.sendChartBatch(ctx, ca, b, func(br pgx.BatchResults) error {
		p, err := r.readChartPatient(br, ca)
		if err != nil {
			return err
		}
		c.Patient = p
		for i := range pages {
			if err := pages[i].read(br, c, ca.a.patient); err != nil {
				return err
			}
		}
		return nil
	})
}

// ChartSection returns one page of one section of the chart of patient
// patientID, newest first: the most recent rows (of the window
// q.Since..q.Until), or with q.Cursor the rows after the page that gave
// it. The result holds the patient's demographics, that section alone,
// and its summary (ChartView.Sections[q.Kind]: counts and the next
// cursor).
//
// It is authorized as the chart read of that section (the demographics
// and the section's kind, or the part of it the actor may read: the
// admissions of the encounters), audited as a read of the section's kind
// in the same transaction, and a patient reading their own record reads
// and counts only the notes a patient reads, as in Chart.
//
// It returns ErrInvalid for a malformed patient id, a kind that is no
// section of a chart (field Kind), a limit out of range (Limit), a cursor
// that is malformed, altered or of another patient or section (Cursor), a
// window with a cursor (Since) or ending before it starts (Until);
// ErrNotFound as Chart; ErrDenied unless the actor may read the
// demographics and the section (the refusal is audited).
func (r *Repository) ChartSection(ctx context.Context, patientID string, q SectionQuery) (ChartView, error) {
	const op = "chart section"
	pid, err := parseID("ID", patientID)
	if err != nil {
		return ChartView{}, err
	}
	s := sectionOf(q.Kind)
	if s == nil {
		return ChartView{}, invalid("Kind", CodeNotAllowed, "must be a section of a chart")
	}
	limit, err := sectionLimit("Limit", q.Limit)
	if err != nil {
		return ChartView{}, err
	}
	page := sectionPage{limit: limit, w: window{since: q.Since, until: q.Until}}
	switch {
	case q.Cursor != "" && (!q.Since.IsZero() || !q.Until.IsZero()):
		return ChartView{}, invalid("Since", CodeNotAllowed, "must be empty with a cursor, which carries its window")
	case q.Cursor != "":
		cur, err := parseChartCursor(q.Cursor)
		if err != nil || cur.kind != q.Kind || cur.patient != pid {
			return ChartView{}, invalid("Cursor", CodeInvalid, "is not a cursor of this section of this patient's chart")
		}
		page.after, page.w = &cur, cur.w
	case !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since):
		return ChartView{}, invalid("Until", CodeBeforeStart, "must be after Since")
	}
	ca, err := r.chartAccess(ctx, op, patientID, q.Kind)
	if err != nil {
		return ChartView{}, err
	}
	var v ChartView
	pages := []sectionPage{page}
	err = ca.run(ctx, r, func() error {
		v = ChartView{}
		if !ca.can(rbac.KindDemographics) {
			return ca.refuse(rbac.KindDemographics)
		}
		rd, ok := ca.read(s)
		if !ok {
			return ca.refuse(q.Kind)
		}
		pages[0].sectionRead = rd
		d := ca.decision(q.Kind)
		if rd.partOnly {
			d = ca.decision(s.part)
		}
		ca.flagBreakGlass(&v.Chart, d, ca.decision(rbac.KindDemographics))
		return r.readPages(ctx, ca, &v.Chart, pages)
	})
	if err := r.chartDone(ctx, op, patientID, ca, &v.Chart, err); err != nil {
		return ChartView{}, err
	}
	v.Sections = map[rbac.Kind]SectionSummary{q.Kind: pages[0].sum}
	return v, nil
}

// chartCursor is a position in one section of one patient's chart: after the
// row with key (at, id), in window w. It holds ids and times only.
type chartCursor struct {
	kind    rbac.Kind
	patient uuid.UUID
	at      time.Time
	id      uuid.UUID
	w       window
}

// The encoded cursor: version, kind, patient, at, id, since, until (times
// in microseconds since 1970, the extremes of int64 for unbounded), then
// the first bytes of a SHA-256 of all that, so that an altered or
// truncated cursor is refused. The check is no secret: a cursor built by
// hand only moves the page within what the actor may read anyway (every
// read is authorized), but one copied wrong never reads the wrong rows.
const (
	cursorVersion = 1
	cursorLen     = 1 + 1 + 16 + 8 + 16 + 8 + 8
	cursorCheck   = 6
)

func (c chartCursor) encode() string {
	b := make([]byte, 0, cursorLen+cursorCheck)
	b = append(b, cursorVersion, byte(c.kind))
	b = append(b, c.patient[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.at.UnixMicro()))
	b = append(b, c.id[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(micros(c.w.since, math.MinInt64)))
	b = binary.BigEndian.AppendUint64(b, uint64(micros(c.w.until, math.MaxInt64)))
	sum := cursorSum(b)
	b = append(b, sum[:cursorCheck]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// micros returns t in microseconds since 1970, or unbounded for the zero
// time.
func micros(t time.Time, unbounded int64) int64 {
	if t.IsZero() {
		return unbounded
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros.
func fromMicros(us, unbounded int64) time.Time {
	if us == unbounded {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func cursorSum(b []byte) [sha256.Size]byte {
	return sha256.Sum256(append([]byte("historia chart cursor\x00"), b...))
}

// errCursor is a cursor that does not decode.
var errCursor = invalid("Cursor", CodeInvalid, "is not a chart cursor")

func parseChartCursor(s string) (chartCursor, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != cursorLen+cursorCheck || b[0] != cursorVersion {
		return chartCursor{}, errCursor
	}
	sum := cursorSum(b[:cursorLen])
	if string(sum[:cursorCheck]) != string(b[cursorLen:]) {
		return chartCursor{}, errCursor
	}
	var c chartCursor
	c.kind = rbac.Kind(b[1])
	copy(c.patient[:], b[2:18])
	c.at = time.UnixMicro(int64(binary.BigEndian.Uint64(b[18:26]))).UTC()
	copy(c.id[:], b[26:42])
	c.w.since = fromMicros(int64(binary.BigEndian.Uint64(b[42:50])), math.MinInt64)
	c.w.until = fromMicros(int64(binary.BigEndian.Uint64(b[50:58])), math.MaxInt64)
	return c, nil
}
