package fhir

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// The CapabilityStatement checked against the routes both ways, as
// web/api's openapi_test does for openapi.yaml: every interaction the
// statement of GET /fhir/R4/metadata lists is routed (it answers the
// anonymous request 401 with an OperationOutcome, not the catch-all's 404),
// and every route under /fhir/R4 is in the statement. It needs no
// database: nothing gets past authentication.

// testRouter is the kernel with the FHIR API mounted, over an app
// without services (no request here is authenticated).
func testRouter(t *testing.T) *web.Router {
	t.Helper()
	a := app.New(app.Config{})
	rt := web.New(web.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: web.NewMetrics(), App: a})
	Mount(rt, a)
	return rt
}

// statement is the part of the CapabilityStatement the tests read,
// decoded independently of the package's own types.
type statement struct {
	ResourceType string   `json:"resourceType"`
	Status       string   `json:"status"`
	Kind         string   `json:"kind"`
	FHIRVersion  string   `json:"fhirVersion"`
	Format       []string `json:"format"`
	Rest         []struct {
		Mode     string `json:"mode"`
		Security *struct {
			Service []struct {
				Coding []struct{ System, Code string } `json:"coding"`
			} `json:"service"`
		} `json:"security"`
		Resource []struct {
			Type        string `json:"type"`
			Interaction []struct {
				Code string `json:"code"`
			} `json:"interaction"`
			SearchParam []struct {
				Name, Type string
			} `json:"searchParam"`
			Operation []struct {
				Name, Definition string
			} `json:"operation"`
		} `json:"resource"`
		Interaction []struct {
			Code string `json:"code"`
		} `json:"interaction"`
		Operation []struct {
			Name, Definition string
		} `json:"operation"`
	} `json:"rest"`
}

// interaction is one thing the statement says the server does: a resource
// type ("" for the system) and an interaction code, or "$name" for an
// operation.
type interaction struct{ Type, Code string }

func (i interaction) String() string {
	if i.Type == "" {
		return "system " + i.Code
	}
	return i.Type + " " + i.Code
}

// declared returns every interaction of the statement.
func (st statement) declared() map[interaction]bool {
	out := map[interaction]bool{}
	for _, rest := range st.Rest {
		for _, i := range rest.Interaction {
			out[interaction{"", i.Code}] = true
		}
		for _, o := range rest.Operation {
			out[interaction{"", "$" + o.Name}] = true
		}
		for _, res := range rest.Resource {
			for _, i := range res.Interaction {
				out[interaction{res.Type, i.Code}] = true
			}
			for _, o := range res.Operation {
				out[interaction{res.Type, "$" + o.Name}] = true
			}
		}
	}
	return out
}

func getMetadata(t *testing.T, rt *web.Router) (statement, []byte) {
	t.Helper()
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, httptest.NewRequest("GET", Root+"/metadata", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET metadata: %d %s", w.Code, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("GET metadata: Content-Type %q, want application/fhir+json", ct)
	}
	var st statement
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatalf("GET metadata: %v", err)
	}
	return st, w.Body.Bytes()
}

const someID = "0190a5e8-8d6e-7c2a-9f3b-4c5d6e7f8a9b"

// requestsFor returns the requests that exercise interaction i.
func requestsFor(i interaction) []*http.Request {
	withBody := func(method, path string) *http.Request {
		r := httptest.NewRequest(method, Root+path, strings.NewReader(`{"resourceType":"`+cmp(i.Type, "Bundle")+`"}`))
		r.Header.Set("Content-Type", "application/fhir+json")
		return r
	}
	base := "/" + i.Type
	switch i.Code {
	case "read":
		return []*http.Request{httptest.NewRequest("GET", Root+base+"/"+someID, nil)}
	case "vread":
		return []*http.Request{httptest.NewRequest("GET", Root+base+"/"+someID+"/_history/1", nil)}
	case "history-instance":
		return []*http.Request{httptest.NewRequest("GET", Root+base+"/"+someID+"/_history", nil)}
	case "search-type":
		post := httptest.NewRequest("POST", Root+base+"/_search", strings.NewReader("_id="+someID))
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return []*http.Request{httptest.NewRequest("GET", Root+base+"?_id="+someID, nil), post}
	case "create":
		return []*http.Request{withBody("POST", base)}
	case "update":
		return []*http.Request{withBody("PUT", base+"/"+someID)}
	case "transaction", "batch":
		return []*http.Request{withBody("POST", ""), withBody("POST", "/")}
	case "$everything":
		return []*http.Request{httptest.NewRequest("GET", Root+base+"/"+someID+"/$everything", nil)}
	case "$export":
		switch i.Type {
		case "":
			return []*http.Request{httptest.NewRequest("GET", Root+"/$export", nil)}
		case "Group":
			return []*http.Request{httptest.NewRequest("GET", Root+"/Group/my-patients/$export", nil)}
		}
		return []*http.Request{httptest.NewRequest("GET", Root+base+"/$export", nil)}
	}
	return nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestCapabilityInteractionsAreRouted: every interaction of the statement
// answers an anonymous request 401 with an OperationOutcome and the bearer
// challenge, never the catch-all's 404.
func TestCapabilityInteractionsAreRouted(t *testing.T) {
	rt := testRouter(t)
	st, _ := getMetadata(t, rt)
	decl := st.declared()
	if len(decl) < 40 {
		t.Fatalf("the statement declares only %d interactions", len(decl))
	}
	for _, i := range sortedInteractions(decl) {
		reqs := requestsFor(i)
		if len(reqs) == 0 {
			t.Errorf("the statement declares %s, which this test does not know how to call (nor, probably, a client)", i)
			continue
		}
		for _, r := range reqs {
			w := httptest.NewRecorder()
			rt.ServeHTTP(w, r)
			what := i.String() + " (" + r.Method + " " + r.URL.RequestURI() + ")"
			if w.Code != http.StatusUnauthorized {
				t.Errorf("%s: anonymous request answered %d, want 401 (routed, behind authentication): %s", what, w.Code, w.Body.String())
				continue
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
				t.Errorf("%s: Content-Type %q", what, ct)
			}
			if c := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(c, "Bearer") {
				t.Errorf("%s: WWW-Authenticate %q, want the Bearer challenge", what, c)
			}
			var oo struct {
				ResourceType string `json:"resourceType"`
				Issue        []struct{ Severity, Code string }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
				t.Errorf("%s: the 401 is not an OperationOutcome: %s", what, w.Body.String())
			} else if oo.Issue[0].Code != "login" {
				t.Errorf("%s: issue code %q, want login", what, oo.Issue[0].Code)
			}
		}
	}
	// The catch-all answers what is not routed, with the 404 the test
	// above tells apart.
	for _, r := range []*http.Request{
		httptest.NewRequest("GET", Root+"/Medication/"+someID, nil),
		httptest.NewRequest("PATCH", Root+"/Patient/"+someID, nil),
		httptest.NewRequest("GET", Root+"/Patient/"+someID+"/$validate", nil),
	} {
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, r)
		if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no such FHIR interaction") {
			t.Errorf("%s %s: %d %s, want the catch-all's 404", r.Method, r.URL.Path, w.Code, w.Body.String())
		}
	}
}

func sortedInteractions(m map[interaction]bool) []interaction {
	out := make([]interaction, 0, len(m))
	for i := range m {
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].String() < out[b].String() })
	return out
}

// interactionOf names the interaction a mux pattern under Root serves,
// from the pattern alone; ok is false for what the statement leaves out
// (metadata, the catch-all, DELETE), and i is zero for a pattern of no
// known shape.
func interactionOf(pattern string) (i interaction, ok bool) {
	method, path, _ := strings.Cut(pattern, " ")
	if path == "" { // no method: the catch-all
		return interaction{}, false
	}
	rest := strings.TrimPrefix(path, Root)
	if rest == path {
		return interaction{}, false
	}
	if rest == "/metadata" || method == "DELETE" || strings.HasPrefix(rest, "/$export-") {
		// $export-status and $export-file: URLs a kick-off hands out,
		// not interactions.
		return interaction{}, false
	}
	if rest == "/$export" && method == "GET" {
		return interaction{"", "$export"}, true
	}
	if rest == "" || rest == "/" || rest == "/{$}" {
		if method == "POST" {
			return interaction{"", "transaction"}, true
		}
		return interaction{}, true
	}
	seg := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	typ := seg[0]
	switch {
	case len(seg) == 1 && method == "GET":
		return interaction{typ, "search-type"}, true
	case len(seg) == 1 && method == "POST":
		return interaction{typ, "create"}, true
	case len(seg) == 2 && seg[1] == "_search" && method == "POST":
		return interaction{typ, "search-type"}, true
	case len(seg) == 2 && method == "GET" && seg[1] == "{id}":
		return interaction{typ, "read"}, true
	case len(seg) == 2 && method == "PUT" && seg[1] == "{id}":
		return interaction{typ, "update"}, true
	case len(seg) == 3 && method == "GET" && seg[2] == "_history":
		return interaction{typ, "history-instance"}, true
	case len(seg) == 4 && method == "GET" && seg[2] == "_history":
		return interaction{typ, "vread"}, true
	case len(seg) == 3 && method == "GET" && strings.HasPrefix(seg[2], "$"):
		return interaction{typ, seg[2]}, true
	case len(seg) == 2 && method == "GET" && seg[1] == "$export":
		return interaction{typ, "$export"}, true
	}
	return interaction{}, true
}

// TestCapabilityDescribesEveryRoute: every route Mount registers under
// /fhir/R4 is described by the statement (but metadata itself, the
// catch-all, the CORS preflight, and DELETE, which answers 405 and is not
// an interaction the server offers).
func TestCapabilityDescribesEveryRoute(t *testing.T) {
	rt := testRouter(t)
	st, _ := getMetadata(t, rt)
	decl := st.declared()
	n := 0
	var deletes []string
	for _, p := range rt.Routes() {
		_, path, _ := strings.Cut(p, " ")
		if !strings.HasPrefix(path, Root) && !strings.HasPrefix(p, Root) {
			continue
		}
		if strings.HasPrefix(p, "DELETE ") {
			deletes = append(deletes, p)
		}
		if p == "OPTIONS "+Root+"/" {
			continue // the CORS preflight of every path
		}
		i, ok := interactionOf(p)
		if !ok {
			continue
		}
		n++
		if i == (interaction{}) {
			t.Errorf("route %s is of no shape the statement can describe", p)
			continue
		}
		if !decl[i] {
			t.Errorf("route %s (%s) is not in the CapabilityStatement", p, i)
		}
		if i.Code == "transaction" && !decl[interaction{"", "batch"}] {
			t.Errorf("route %s takes batch Bundles too, but the statement does not list batch", p)
		}
	}
	if n < 40 {
		t.Fatalf("only %d FHIR routes found", n)
	}
	// DELETE is routed for every type (to answer 405) and never declared.
	for i := range decl {
		if i.Code == "delete" {
			t.Errorf("the statement declares %s, which the server refuses", i)
		}
	}
	if len(deletes) == 0 {
		t.Error("DELETE is not routed: it should answer 405 with an OperationOutcome, not the catch-all's 404")
	}
	for _, p := range deletes {
		_, path, _ := strings.Cut(p, " ")
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, httptest.NewRequest("DELETE", strings.ReplaceAll(path, "{id}", someID), nil))
		if w.Code != http.StatusUnauthorized {
			t.Errorf("anonymous %s: %d, want 401 (routed)", p, w.Code)
		}
	}
	// Every resource type the statement lists has the interactions of a
	// served type, and its search parameters are of FHIR's types.
	for _, rest := range st.Rest {
		for _, res := range rest.Resource {
			if res.Type == "Group" {
				// Declared for its $export alone (groups are virtual).
				if len(res.Interaction) > 0 || len(res.Operation) != 1 || res.Operation[0].Name != "export" {
					t.Errorf("Group: %+v, want the $export operation alone", res)
				}
				continue
			}
			for _, want := range []string{"read", "search-type", "create", "update"} {
				if !decl[interaction{res.Type, want}] {
					t.Errorf("%s lacks %s", res.Type, want)
				}
			}
			seen := map[string]bool{}
			for _, sp := range res.SearchParam {
				if !slices.Contains([]string{"number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special"}, sp.Type) {
					t.Errorf("%s search parameter %s has type %q", res.Type, sp.Name, sp.Type)
				}
				if seen[sp.Name] {
					t.Errorf("%s search parameter %s is declared twice", res.Type, sp.Name)
				}
				seen[sp.Name] = true
			}
			if !seen["_id"] {
				t.Errorf("%s declares no _id search parameter", res.Type)
			}
		}
	}
	if !decl[interaction{"Patient", "$everything"}] {
		t.Error("the statement does not declare Patient/$everything")
	}
	for _, i := range []interaction{{"", "$export"}, {"Patient", "$export"}, {"Group", "$export"}} {
		if !decl[i] {
			t.Errorf("the statement does not declare %s", i)
		}
	}
}

// TestCapabilityStatement: the statement's header, its negotiation (JSON
// only: _format=xml and Accept: application/fhir+xml answer 406, a body
// that is not FHIR JSON 415), and it is written for the R4 validation of
// fhir/conformance (TestDemoIsR4).
func TestCapabilityStatement(t *testing.T) {
	rt := testRouter(t)
	st, body := getMetadata(t, rt)
	if st.ResourceType != "CapabilityStatement" || st.FHIRVersion != "4.0.1" || st.Status != "active" || st.Kind != "instance" {
		t.Errorf("statement header: %+v", st)
	}
	if !slices.Contains(st.Format, "json") || slices.Contains(st.Format, "xml") {
		t.Errorf("format %v, want json only", st.Format)
	}
	if len(st.Rest) != 1 || st.Rest[0].Mode != "server" {
		t.Fatalf("rest: %+v", st.Rest)
	}
	if sec := st.Rest[0].Security; sec == nil || len(sec.Service) == 0 {
		t.Error("the statement does not say how to authenticate (rest.security.service)")
	}
	for _, tc := range []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"_format=json", func() *http.Request { return httptest.NewRequest("GET", Root+"/metadata?_format=json", nil) }, 200},
		{"_format=application/fhir+json", func() *http.Request {
			return httptest.NewRequest("GET", Root+"/metadata?_format=application/fhir%2Bjson", nil)
		}, 200},
		{"Accept: application/fhir+json", func() *http.Request {
			r := httptest.NewRequest("GET", Root+"/metadata", nil)
			r.Header.Set("Accept", "application/fhir+json")
			return r
		}, 200},
		{"_format=xml", func() *http.Request { return httptest.NewRequest("GET", Root+"/metadata?_format=xml", nil) }, 406},
		{"_format=application/fhir+xml", func() *http.Request {
			return httptest.NewRequest("GET", Root+"/metadata?_format=application/fhir%2Bxml", nil)
		}, 406},
		{"Accept: application/fhir+xml", func() *http.Request {
			r := httptest.NewRequest("GET", Root+"/metadata", nil)
			r.Header.Set("Accept", "application/fhir+xml")
			return r
		}, 406},
		{"text/plain body", func() *http.Request {
			r := httptest.NewRequest("GET", Root+"/metadata", strings.NewReader("hello"))
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, 415},
	} {
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, tc.req())
		if w.Code != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.name, w.Code, tc.status, w.Body.String())
			continue
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
			t.Errorf("%s: Content-Type %q", tc.name, ct)
		}
		if tc.status != 200 && !strings.Contains(w.Body.String(), `"OperationOutcome"`) {
			t.Errorf("%s: %d is not an OperationOutcome: %s", tc.name, tc.status, w.Body.String())
		}
	}
	writeConformance(t, "capability-statement.json", body)
}

// writeConformance writes a FHIR resource the server emitted to
// fhir/conformance/testdata/demo, which fhir/conformance's TestDemoIsR4
// validates with google/fhir's R4 parser (the Makefile runs this module's
// tests first).
func writeConformance(t *testing.T, name string, body []byte) {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "fhir", "conformance", "testdata", "demo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
		t.Fatal(err)
	}
}

// repoRoot returns the directory of the root module
// (github.com/historiaehr/historia), walking up from the working
// directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			s := bufio.NewScanner(f)
			for s.Scan() {
				if line := strings.TrimSpace(s.Text()); strings.HasPrefix(line, "module ") {
					if strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "module ")), `"`) == "github.com/historiaehr/historia" {
						f.Close()
						return dir, nil
					}
					break
				}
			}
			f.Close()
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// TestCrossOrigin: /fhir takes bearer tokens only, so a browser app of
// another origin may call it (CORS without credentials, preflight
// answered), while the cookie-authenticated routes stay protected.
func TestCrossOrigin(t *testing.T) {
	rt := testRouter(t)
	send := func(method, path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(`{"resourceType":"Patient"}`))
		r.Header.Set("Content-Type", "application/fhir+json")
		r.Header.Set("Origin", "https://app.example")
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, r)
		return w
	}
	w := send("POST", Root+"/Patient")
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"OperationOutcome"`) || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("cross-site POST /fhir: %d %q, CORS %q; want 401 OperationOutcome with CORS", w.Code, w.Body.String(), w.Header().Get("Access-Control-Allow-Origin"))
	}
	w = send("OPTIONS", Root+"/Patient/123")
	if w.Code != http.StatusNoContent || !strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", w.Code, w.Header())
	}
	if w := send("POST", "/api/v1/patients"); w.Code != http.StatusForbidden {
		t.Errorf("cross-site POST /api: %d, want 403 (still protected)", w.Code)
	}
}
