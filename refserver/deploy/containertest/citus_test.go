package containertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ory/dockertest/v3/docker"
)

// EnvCitusImage names the Citus image of the Compose scenario (the
// interface of the official citusdata/citus image), as for the Citus
// cluster suite of the library. It is never pulled.
const EnvCitusImage = "HISTORIA_TEST_CITUS_IMAGE"

const defaultCitusImage = "historia/citus:13-pg15"

// deployDir is refserver/deploy, from this package's directory.
const deployDir = ".."

// composeTool returns the command that runs Compose: the docker CLI's
// plugin ("docker compose") or the standalone docker-compose (Debian's
// package docker-compose).
func composeTool() []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	return nil
}

// citusStack is one run of compose.citus.yaml, driven by citus-demo.sh,
// from a scratch copy of the deploy files (so the user's
// refserver/deploy/secrets are never touched).
type citusStack struct {
	tool    []string
	dir     string
	project string
	env     []string
}

// demo runs citus-demo.sh with args and returns its output.
func (c *citusStack) demo(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.dir, "citus-demo.sh"), args...)
	cmd.Dir, cmd.Env = c.dir, c.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// compose runs a Compose command on the stack, stdin feeding it, and
// returns its standard output (and its standard error on failure).
func (c *citusStack) compose(ctx context.Context, stdin string, args ...string) (string, error) {
	argv := slices.Concat(c.tool[1:], []string{"-p", c.project, "-f", filepath.Join(c.dir, "compose.citus.yaml")}, args)
	cmd := exec.CommandContext(ctx, c.tool[0], argv...)
	cmd.Dir, cmd.Env = c.dir, c.env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s%s", strings.Join(c.tool, " "), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// psql runs one SQL statement on a node (through the node's own psql on
// its socket) and returns the rows, fields separated by "|".
func (c *citusStack) psql(ctx context.Context, node, sql string) ([]string, error) {
	out, err := c.compose(ctx, "", "exec", "-T", node, "psql", "-U", "historia", "-d", "historia", "-v", "ON_ERROR_STOP=1", "-qAtF|", "-c", sql)
	if err != nil {
		return nil, err
	}
	var rows []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			rows = append(rows, l)
		}
	}
	return rows, nil
}

// containers returns the stack's service containers (not the one-off
// "run" ones) by service name.
func (c *citusStack) containers(t *testing.T) map[string]*docker.Container {
	t.Helper()
	list, err := env.pool.Client.ListContainers(docker.ListContainersOptions{All: true,
		Filters: map[string][]string{"label": {"com.docker.compose.project=" + c.project}}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*docker.Container{}
	for _, l := range list {
		if strings.EqualFold(l.Labels["com.docker.compose.oneoff"], "true") {
			continue
		}
		ct, err := env.pool.Client.InspectContainer(l.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[l.Labels["com.docker.compose.service"]] = ct
	}
	return out
}

var (
	demoURL = regexp.MustCompile(`running at (http://\S+)/login`)
	uuidRE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// TestCitusCompose runs compose.citus.yaml end to end, as a newcomer does
// with citus-demo.sh: a coordinator and two workers of the Citus image,
// the node registration (coordinator by citus_set_coordinator_host,
// workers by citus_add_node), historia migrate, historia citus
// distribute, the server, the demo hospital. It checks the one-shot steps
// succeeded, the Citus metadata (patients distributed by patient_id over
// the two workers, users and tenants reference tables) both through
// `historia citus status` and SQL on the coordinator, a login per role
// through POST /auth with each role's page, that a patient registered
// through the API is stored in a shard on a worker, that a second "up"
// changes nothing, and that "down" leaves nothing behind.
func TestCitusCompose(t *testing.T) {
	if env == nil {
		t.Skip("no container environment (see TestMain's message)")
	}
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format+" (CI=true: the Citus Compose scenario must run)", args...)
		}
		t.Skipf(format, args...)
	}
	tool := composeTool()
	if tool == nil {
		unavailable("neither `docker compose` nor docker-compose is installed (apt-get install docker-compose)")
	}
	citusImage := os.Getenv(EnvCitusImage)
	if citusImage == "" {
		citusImage = defaultCitusImage
	}
	if _, err := env.pool.Client.InspectImage(citusImage); err != nil {
		unavailable("Citus image %s is not present (it is never pulled: build it with internal/pgimage/build-citus.sh, or set %s): %v",
			citusImage, EnvCitusImage, err)
	}

	// A scratch copy of the deploy files the demo reads.
	c := &citusStack{tool: tool, dir: t.TempDir(), project: env.prefix + "-citus"}
	for _, f := range []string{"compose.citus.yaml", "citus-demo.sh", "citus/add-nodes.sh", "secrets/generate.sh"} {
		b, err := os.ReadFile(filepath.Join(deployDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(c.dir, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(c.dir, f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	password := "citus-" + randHex(8)
	c.env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "HISTORIA_") || strings.HasPrefix(kv, "COMPOSE_")
	})
	c.env = append(c.env, "COMPOSE_PROJECT_NAME="+c.project, "HISTORIA_IMAGE="+env.image, "HISTORIA_CITUS_IMAGE="+citusImage,
		"HISTORIA_PUBLISH=127.0.0.1:", "HISTORIA_DEMO_PASSWORD="+password)

	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer ccancel()
		if t.Failed() {
			if out, err := c.compose(cctx, "", "logs", "--no-color", "--tail", "60"); err == nil {
				t.Logf("compose logs (tail, request lines left out):\n%s", tail(out, 200))
			}
		}
		if _, err := c.compose(cctx, "", "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})

	// 1. citus-demo.sh up: the whole stack and the demo hospital.
	start := time.Now()
	out, err := c.demo(ctx, "up")
	if err != nil {
		t.Fatalf("citus-demo.sh up: %v\n%s", err, out)
	}
	t.Logf("citus-demo.sh up: %s (images %s, %s, %s)", time.Since(start).Round(time.Second), env.image, citusImage, strings.Join(tool, " "))
	m := demoURL.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("citus-demo.sh up printed no URL:\n%s", out)
	}
	base := m[1]
	for _, want := range []string{"coordinator:5432 (coordinator)", "worker1:5432 (worker)", "worker2:5432 (worker)"} {
		if !strings.Contains(out, want) {
			t.Errorf("citus-demo.sh up does not list %q:\n%s", want, out)
		}
	}

	// 2. Every step ran: the nodes and the server run, the one-shot steps
	// exited 0.
	checkContainers := func() {
		t.Helper()
		cts := c.containers(t)
		for _, svc := range []string{"coordinator", "worker1", "worker2", "historia"} {
			if ct := cts[svc]; ct == nil || !ct.State.Running || ct.RestartCount != 0 {
				t.Errorf("service %s is not running (or restarted): %+v", svc, ct)
			}
		}
		for _, svc := range []string{"citus-nodes", "migrate", "distribute"} {
			if ct := cts[svc]; ct == nil || ct.State.Running || ct.State.ExitCode != 0 {
				t.Errorf("one-shot %s did not complete successfully: %+v", svc, ct)
			}
		}
	}
	checkContainers()

	// 3. The Citus metadata. The nodes: the coordinator registered by its
	// host name in group 0, holding no shards; the two workers.
	rows, err := c.psql(ctx, "coordinator", "SELECT nodename, nodeport, groupid = 0, shouldhaveshards, isactive FROM pg_dist_node ORDER BY nodename")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"coordinator|5432|t|f|t", "worker1|5432|f|t|t", "worker2|5432|f|t|t"}; !slices.Equal(rows, want) {
		t.Errorf("pg_dist_node: %q, want %q", rows, want)
	}
	// The tables, by SQL.
	rows, err = c.psql(ctx, "coordinator", `SELECT table_name::text, citus_table_type, distribution_column FROM citus_tables
		WHERE table_name::text IN ('patients', 'users', 'tenants') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"patients|distributed|patient_id", "tenants|reference|<none>", "users|reference|<none>"}; !slices.Equal(rows, want) {
		t.Errorf("citus_tables: %q, want %q", rows, want)
	}
	rows, err = c.psql(ctx, "coordinator", `SELECT nodename, count(*) FROM citus_shards WHERE table_name = 'patients'::regclass GROUP BY 1 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "worker1|") || !strings.HasPrefix(rows[1], "worker2|") {
		t.Errorf("the shards of patients are on %q, want worker1 and worker2 only", rows)
	}
	// The same, as an operator sees it: historia citus status.
	status, err := c.compose(ctx, "", "run", "--rm", "--no-deps", "-T", "historia", "citus", "status")
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string]string{} // table -> its block of status lines
	var cur string
	for _, l := range strings.Split(status, "\n") {
		if l != "" && !strings.HasPrefix(l, " ") {
			cur, _, _ = strings.Cut(l, ":")
		}
		tables[cur] += l + "\n"
	}
	if p := tables["patients"]; !strings.HasPrefix(p, "patients: distributed by patient_id,") ||
		!strings.Contains(p, "\n  worker1:5432: ") || !strings.Contains(p, "\n  worker2:5432: ") || strings.Contains(p, "coordinator:5432") {
		t.Errorf("historia citus status, patients:\n%s", p)
	}
	for _, ref := range []string{"users", "tenants"} {
		// A reference table has a copy on every node.
		if r := tables[ref]; !strings.HasPrefix(r, ref+": reference,") ||
			!strings.Contains(r, "\n  worker1:5432: ") || !strings.Contains(r, "\n  worker2:5432: ") {
			t.Errorf("historia citus status, %s:\n%s", ref, tables[ref])
		}
	}
	if t.Failed() {
		t.Logf("historia citus status:\n%s", status)
	}

	// 4. The server over HTTP: health, then a login per demo role through
	// POST /auth and each role's page.
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		code, body, err := get(ctx, base+path, "")
		if err != nil || code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %v %.200s", path, code, err, body)
		}
	}
	// Metrics are on a listener of their own, not on the published port.
	if code, _, err := get(ctx, base+"/metrics", ""); err != nil || code != http.StatusNotFound {
		t.Errorf("GET /metrics on the published port: %d %v; want 404", code, err)
	}
	roles := []string{"medico", "admisionista", "secretaria", "admin", "auditor", "paciente"}
	if _, err := exec.LookPath("curl"); err != nil {
		// citus-demo.sh registers the paciente's patient with curl.
		t.Logf("curl is not installed: citus-demo.sh made no paciente login, not checked")
		roles = roles[:len(roles)-1]
	}
	tokens := map[string]string{}
	for _, role := range roles {
		t.Run("login/"+role, func(t *testing.T) {
			tok, err := authenticate(ctx, base, role, password)
			if err != nil {
				t.Fatal(err)
			}
			tokens[role] = tok
			code, body, err := get(ctx, base+"/api/v1/me", tok)
			var me struct {
				Roles []string `json:"roles"`
				Home  string   `json:"home"`
			}
			if err == nil && code == 200 {
				err = json.Unmarshal(body, &me)
			}
			// Each role's own page; the paciente's is their chart.
			home := me.Home == "/"+role || role == "paciente" && strings.HasPrefix(me.Home, "/paciente/")
			if err != nil || code != 200 || !slices.Contains(me.Roles, role) || !home {
				t.Fatalf("GET /api/v1/me as %s: %d %v %s", role, code, err, body)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+me.Home, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Accept", "text/html")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(page, []byte("<html")) {
				t.Errorf("GET %s as %s: %d %s", me.Home, role, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		})
	}

	// 5. A patient registered through the API lands in a shard on a
	// worker: its shard's placement is on worker1 or worker2, and that
	// worker's shard table holds the row.
	adm := tokens["admisionista"]
	if adm == "" {
		t.Fatal("no admisionista token")
	}
	code, p, err := registerAt(ctx, base, adm, newPatient("CITUS-"+randHex(4)))
	if err != nil || code != http.StatusCreated || !uuidRE.MatchString(p.ID) {
		t.Fatalf("admisionista registers a patient: %d %v %q", code, err, p.ID)
	}
	rows, err = c.psql(ctx, "coordinator", fmt.Sprintf(`SELECT shardid, nodename FROM citus_shards
		WHERE table_name = 'patients'::regclass AND shardid = get_shard_id_for_distribution_column('patients', '%s')`, p.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("placements of patient %s's shard: %q, want one", p.ID, rows)
	}
	shard, node, _ := strings.Cut(rows[0], "|")
	if node != "worker1" && node != "worker2" {
		t.Fatalf("patient %s is in shard %s on %q, not on a worker", p.ID, shard, node)
	}
	rows, err = c.psql(ctx, node, fmt.Sprintf(`SELECT document_number FROM patients_%s WHERE patient_id = '%s'`, shard, p.ID))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows, []string{p.DocumentNumber}) {
		t.Errorf("%s's shard patients_%s holds %q for patient %s, want [%s]", node, shard, rows, p.ID, p.DocumentNumber)
	}
	t.Logf("patient %s: shard patients_%s on %s", p.ID, shard, node)
	code, body, err := get(ctx, base+"/api/v1/patients/"+p.ID, adm)
	if err != nil || code != 200 || !strings.Contains(string(body), p.DocumentNumber) {
		t.Errorf("GET the patient back through the coordinator: %d %v %.200s", code, err, body)
	}

	// 6. A second "up" re-runs the one-shot steps (registration, migrate,
	// distribute: all idempotent), reseeds nothing, and the demo still
	// works.
	out, err = c.demo(ctx, "up")
	if err != nil {
		t.Fatalf("citus-demo.sh up, again: %v\n%s", err, out)
	}
	if !strings.Contains(out, "nothing reseeded") {
		t.Errorf("the second citus-demo.sh up did not reuse the demo hospital:\n%s", out)
	}
	checkContainers()
	if logs, err := c.compose(ctx, "", "logs", "--no-color", "distribute"); err != nil || !strings.Contains(logs, " 0 table(s) distributed, ") {
		t.Errorf("the second distribute did not find every table in place: %v\n%s", err, logs)
	}
	if m := demoURL.FindStringSubmatch(out); m != nil {
		base = m[1]
	}
	if _, err := authenticate(ctx, base, "admin", password); err != nil {
		t.Errorf("after the second up: %v", err)
	}

	// 7. citus-demo.sh down leaves no container, volume or network.
	if out, err := c.demo(ctx, "down"); err != nil {
		t.Fatalf("citus-demo.sh down: %v\n%s", err, out)
	}
	label := map[string][]string{"label": {"com.docker.compose.project=" + c.project}}
	if cts, err := env.pool.Client.ListContainers(docker.ListContainersOptions{All: true, Filters: label}); err != nil || len(cts) != 0 {
		t.Errorf("after down: %d containers left (%v)", len(cts), err)
	}
	if vols, err := env.pool.Client.ListVolumes(docker.ListVolumesOptions{Filters: label}); err != nil || len(vols) != 0 {
		t.Errorf("after down: %d volumes left (%v)", len(vols), err)
	}
	if nets, err := env.pool.Client.FilteredListNetworks(docker.NetworkFilterOpts{
		"label": {"com.docker.compose.project=" + c.project: true}}); err != nil || len(nets) != 0 {
		t.Errorf("after down: %d networks left (%v)", len(nets), err)
	}
	t.Logf("Citus Compose scenario: %s in all", time.Since(start).Round(time.Second))
}
