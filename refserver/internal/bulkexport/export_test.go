package bulkexport_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/historiaehr/historia/ehr"
	"github.com/historiaehr/historia/ehr/ehrtest"
	"github.com/historiaehr/historia/rbac"
	"github.com/historiaehr/historia/refserver/internal/bulkexport"
	"github.com/historiaehr/historia/refserver/internal/fhirmap"
)

func TestMain(m *testing.M) { ehrtest.Main(m) }

// readerPolicy lets role "lector" list every patient but read only the
// charts of the patients on its care team: the others are refused.
const readerPolicy = `{"version": 1, "roles": ["lector"], "rules": [
 {"id": "lector-search", "effect": "allow", "roles": ["lector"], "actions": ["search"], "kinds": ["demographics"]},
 {"id": "lector-read", "effect": "allow", "roles": ["lector"], "actions": ["read"],
  "kinds": ["demographics", "observation", "careteam"], "when_any": ["careteam"]},
 {"id": "lector-users", "effect": "allow", "roles": ["lector"], "actions": ["read"], "kinds": ["user"]}]}`

func engineOf(t testing.TB, policy string) *rbac.Engine {
	t.Helper()
	p, err := rbac.LoadPolicy(strings.NewReader(policy))
	if err != nil {
		t.Fatal(err)
	}
	e, err := rbac.New(p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// readLines decodes every line of an output file with the strict R4
// decoders and returns the resource ids.
func readLines(t testing.TB, dir string, f bulkexport.File) []string {
	t.Helper()
	fh, err := os.Open(filepath.Join(dir, f.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var ids []string
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var head struct{ ResourceType, ID string }
		if err := json.Unmarshal(sc.Bytes(), &head); err != nil || head.ResourceType != f.Type {
			t.Fatalf("%s: line %q: %v", f.Name, sc.Text(), err)
		}
		if f.Type != "OperationOutcome" {
			if _, _, err := fhirmap.Decode(f.Type, sc.Bytes()); err != nil {
				t.Fatalf("%s line %d: %v", f.Name, len(ids)+1, err)
			}
		}
		ids = append(ids, head.ID)
	}
	if len(ids) != f.Count {
		t.Errorf("%s: %d lines, count %d", f.Name, len(ids), f.Count)
	}
	return ids
}

// TestRunSkipsDeniedPatients: a patient the actor may not read is
// skipped, reported by id alone, and the refusal audited on its chain;
// the readable patient is exported whole, its read audited as an export;
// the practitioners its records name come along.
func TestRunSkipsDeniedPatients(t *testing.T) {
	db := ehrtest.NewDB(t)
	h := ehrtest.NewHospital(t, db, ehr.WithAuthorizer(rbac.Default()))
	lector, pr := h.NewMedico(t, "Dr. Lector")
	lector.Principal.Roles = []string{"lector"}
	mine, other := h.NewPatient(t), h.NewPatient(t)
	h.OnCareTeam(t, mine, pr)
	for _, p := range []ehr.Patient{mine, other} {
		h.OnCareTeam(t, p, h.Practitioner)
		v := 72.0
		if _, err := h.Repo.RecordObservation(h.As(h.Medico), ehr.Observation{PatientID: p.ID, Category: ehr.CategoryVitalSigns,
			Code: ehr.CodeHeartRate, Value: &v, Unit: "/min", EffectiveAt: time.Now().Add(-time.Hour), Status: "final"}); err != nil {
			t.Fatal(err)
		}
	}
	repo := ehr.NewRepository(db, ehr.WithAuthorizer(engineOf(t, readerPolicy)))
	dir := t.TempDir()
	var progress []bulkexport.Progress
	res, err := bulkexport.Run(ehr.NewContext(context.Background(), lector), bulkexport.Options{Repo: repo, Dir: dir,
		Progress: func(p bulkexport.Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Patients != 2 || res.Skipped != 1 || len(progress) != 2 || progress[1].Patients != 2 {
		t.Errorf("result %+v, progress %+v", res, progress)
	}
	got := map[string][]string{}
	for _, f := range slices.Concat(res.Output, res.Errors) {
		got[f.Type] = readLines(t, dir, f)
	}
	if !slices.Equal(got["Patient"], []string{mine.ID}) || len(got["Observation"]) != 1 || len(got["CareTeam"]) != 2 ||
		len(got["Practitioner"]) != 2 {
		t.Errorf("exported %v", got)
	}
	// The sections withheld from the reader are named, without any data.
	errs, err := os.ReadFile(filepath.Join(dir, bulkexport.ErrorFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(errs), "Patient/"+other.ID+": the policy does not let the caller read") ||
		!strings.Contains(string(errs), `"code":"forbidden"`) || strings.Contains(string(errs), other.FamilyNames) ||
		!strings.Contains(string(errs), "DocumentReference") || strings.Contains(string(errs), "CareTeam") {
		t.Errorf("error file: %s", errs)
	}
	// The trail: an export on the readable patient's chain (its access
	// log shows it), a denial on the other's.
	log, err := h.Repo.AccessLog(h.As(h.Auditor), mine.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) == 0 || log[0].Action != ehr.AuditActionExport || log[0].UserID != lector.Principal.UserID || log[0].Kind != "chart" {
		t.Errorf("access log of the exported patient: %+v", log)
	}
	page, err := h.Repo.SearchAudit(h.As(h.Auditor), ehr.AuditQuery{ChainID: other.ID, UserID: lector.Principal.UserID})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 || page.Events[0].Outcome != ehr.OutcomeDenied || page.Events[0].Action != ehr.AuditActionExport {
		t.Errorf("trail of the refused patient: %+v", page.Events)
	}

	// _type and Since: only observations, only those changed since.
	since := time.Now()
	v := 80.0
	o, err := h.Repo.RecordObservation(h.As(h.Medico), ehr.Observation{PatientID: mine.ID, Category: ehr.CategoryVitalSigns,
		Code: ehr.CodeHeartRate, Value: &v, Unit: "/min", EffectiveAt: time.Now(), Status: "final"})
	if err != nil {
		t.Fatal(err)
	}
	dir2 := t.TempDir()
	res, err = bulkexport.Run(ehr.NewContext(context.Background(), lector), bulkexport.Options{Repo: repo, Dir: dir2,
		Types: []string{"Observation"}, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) != 1 || !slices.Equal(readLines(t, dir2, res.Output[0]), []string{o.ID}) {
		t.Errorf("since: %+v", res.Output)
	}
	// A cancelled context stops the export after the patient being read.
	cctx, cancel := context.WithCancel(ehr.NewContext(context.Background(), lector))
	defer cancel()
	n := 0
	if _, err := bulkexport.Run(cctx, bulkexport.Options{Repo: repo, Dir: dir2,
		Progress: func(bulkexport.Progress) { n++; cancel() }}); !errors.Is(err, context.Canceled) || n != 1 {
		t.Errorf("cancelled: %v after %d patients", err, n)
	}
	// Refusals: an unknown type; an actor who may not list the patients.
	if _, err := bulkexport.Run(ehr.NewContext(context.Background(), lector), bulkexport.Options{Repo: repo, Dir: dir2,
		Types: []string{"Claim"}}); !errors.Is(err, bulkexport.ErrInvalidType) {
		t.Errorf("type Claim: %v", err)
	}
	if _, err := bulkexport.Run(h.As(h.Admin), bulkexport.Options{Repo: h.Repo, Dir: dir2}); !errors.Is(err, ehr.ErrDenied) {
		t.Errorf("admin: %v", err)
	}
}

// seed registers n patients in h, each with a chart of obs observations,
// a condition and a signed note, in transactions of 50 patients.
func seed(tb testing.TB, h *ehrtest.Hospital, n, obs int) {
	tb.Helper()
	ctx := context.Background()
	for done := 0; done < n; {
		batch := min(50, n-done)
		err := h.Repo.InTx(ctx, func(tx *ehr.Repository) error {
			for i := range batch {
				k := done + i
				p, err := tx.RegisterPatient(h.As(h.Admisionista), ehr.Patient{DocumentType: "CC", DocumentNumber: fmt.Sprintf("M%d-%09d", n, k),
					GivenNames: "Ana", FamilyNames: fmt.Sprintf("Prueba %d", k), BirthDate: time.Date(1970+k%40, 1, 2, 0, 0, 0, 0, time.UTC), Sex: ehr.SexFemale})
				if err != nil {
					return err
				}
				if _, err := tx.AssignCareTeam(h.As(h.Admisionista), ehr.CareTeamMember{PatientID: p.ID, PractitionerID: h.Practitioner.ID, Role: "attending"}); err != nil {
					return err
				}
				list := make([]ehr.Observation, obs)
				for j := range list {
					v := float64(60 + j)
					list[j] = ehr.Observation{Category: ehr.CategoryVitalSigns, Code: ehr.CodeHeartRate, Value: &v, Unit: "/min",
						EffectiveAt: time.Now().Add(-time.Duration(j) * time.Hour), Status: "final"}
				}
				if _, err := tx.RecordObservations(h.As(h.Medico), p.ID, list); err != nil {
					return err
				}
				if _, err := tx.RecordCondition(h.As(h.Medico), ehr.Condition{PatientID: p.ID, Code: "I10", Display: "Hipertensión esencial",
					Status: "active"}); err != nil {
					return err
				}
				if _, err := tx.CreateNote(h.As(h.Medico), ehr.Note{PatientID: p.ID, Title: "Evolución", Body: strings.Repeat("Evolución estable. ", 100)}, true); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		done += batch
	}
}

// BenchmarkExportMemory exports a tenant of n and 10n patients (each with
// 20 observations, a condition, a signed note and a care team) and
// reports the peak heap in use during the export above the heap before
// it (HeapInuse, sampled every millisecond): flat, whatever the number
// of patients. docs/performance.md, "Bulk export".
func BenchmarkExportMemory(b *testing.B) {
	db := ehrtest.NewDB(b)
	for _, n := range []int{200, 2000} {
		h := ehrtest.NewHospital(b, db, ehr.WithAuthorizer(rbac.Default()))
		seed(b, h, n, 20)
		repo := ehr.NewRepository(db, ehr.WithAuthorizer(bulkexport.Engine()))
		ctx := ehr.NewContext(context.Background(), bulkexport.Actor(h.Tenant.ID, "historia-cli", bulkexport.NewRequestID()))
		b.Run(fmt.Sprintf("patients=%d", n), func(b *testing.B) {
			var peak, base uint64
			var resources, bytes int
			for b.Loop() {
				dir := b.TempDir()
				b.StopTimer()
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base = ms.HeapInuse
				b.StartTimer()
				var hi atomic.Uint64
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					t := time.NewTicker(time.Millisecond)
					defer t.Stop()
					for {
						var ms runtime.MemStats
						runtime.ReadMemStats(&ms)
						if ms.HeapInuse > hi.Load() {
							hi.Store(ms.HeapInuse)
						}
						select {
						case <-stop:
							return
						case <-t.C:
						}
					}
				}()
				res, err := bulkexport.Run(ctx, bulkexport.Options{Repo: repo, Dir: dir, AllPractitioners: true})
				close(stop)
				<-done
				if err != nil {
					b.Fatal(err)
				}
				if res.Patients != n || res.Skipped != 0 {
					b.Fatalf("exported %+v", res.Progress)
				}
				peak, resources = max(peak, hi.Load()-min(base, hi.Load())), res.Resources
				bytes = 0
				for _, f := range res.Output {
					st, err := os.Stat(filepath.Join(dir, f.Name))
					if err != nil {
						b.Fatal(err)
					}
					bytes += int(st.Size())
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(bytes)/(1<<20), "ndjson-MB")
			b.ReportMetric(float64(resources), "resources")
			b.ReportMetric(float64(resources)*float64(b.N)/b.Elapsed().Seconds(), "resources/s")
		})
	}
}
