package k8stest

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var composeFiles = []string{"compose.yaml", "compose.citus.yaml"}

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

// TestComposeConfig has Compose itself parse and validate each file.
// Under CI=true a missing Compose is a failure: .ci/run must install the
// Debian package docker-compose.
func TestComposeConfig(t *testing.T) {
	tool := composeTool()
	if tool == nil {
		if ciRequired() {
			t.Fatal("neither `docker compose` nor docker-compose is installed (apt-get install docker-compose)")
		}
		t.Skip("neither `docker compose` nor docker-compose is installed")
	}
	for _, f := range composeFiles {
		args := slices.Concat(tool[1:], []string{"-f", filepath.Join(deployDir, f), "config", "-q"})
		cmd := exec.Command(tool[0], args...)
		// The files' defaults, not the caller's overrides.
		cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "HISTORIA_") || strings.HasPrefix(kv, "POSTGRES_IMAGE=") ||
				strings.HasPrefix(kv, "COMPOSE_")
		})
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s config -q %s: %v\n%s", strings.Join(tool, " "), f, err, out)
		}
	}
}

// composeService is the part of a Compose service the invariants read.
type composeService struct {
	Image       string         `json:"image"`
	Command     []string       `json:"command"`
	Entrypoint  []string       `json:"entrypoint"`
	Environment map[string]any `json:"environment"`
	Secrets     []string       `json:"secrets"`
	ReadOnly    bool           `json:"read_only"`
	Tmpfs       []string       `json:"tmpfs"`
	CapDrop     []string       `json:"cap_drop"`
	SecurityOpt []string       `json:"security_opt"`
	Restart     string         `json:"restart"`
	Healthcheck *struct {
		Test []string `json:"test"`
	} `json:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
	Volumes []string `json:"volumes"`
	Ports   []string `json:"ports"`
}

type composeFile struct {
	Services map[string]composeService `json:"services"`
	Volumes  map[string]any            `json:"volumes"`
	Secrets  map[string]struct {
		File string `json:"file"`
	} `json:"secrets"`
}

var defaultVar = regexp.MustCompile(`\$\{([A-Z_]+):-([^}]*)\}`)

// TestComposeInvariants reads the Compose files (YAML anchors and merge
// keys resolved) and checks what a reviewer would: the server hardened
// and health-checked, every HISTORIA_* variable a real flag, secrets from
// files that secrets/generate.sh makes, restart policies, and the one-shot
// steps in the right order.
func TestComposeInvariants(t *testing.T) {
	env := serverEnv(t)
	wantImage := defaultImage(t)
	generate := readFile(t, filepath.Join(deployDir, "secrets", "generate.sh"))
	for _, name := range composeFiles {
		t.Run(name, func(t *testing.T) {
			var f composeFile
			if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(deployDir, name))), &f); err != nil {
				t.Fatal(err)
			}
			var oneShots [][]string
			for sname, s := range f.Services {
				where := name + " service " + sname
				img := defaultVar.ReplaceAllString(s.Image, "$2")
				isHistoria := imageName(img) == historiaImage
				if s.Restart == "" {
					t.Errorf("%s: no restart policy", where)
				}
				oneShot := s.Restart == "no"
				if isHistoria {
					if img != wantImage {
						t.Errorf("%s: image %s, want %s", where, img, wantImage)
					}
					if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") ||
						!slices.Contains(s.Tmpfs, "/tmp") {
						t.Errorf("%s: want read_only, cap_drop ALL, no-new-privileges and a tmpfs /tmp", where)
					}
					for k, v := range s.Environment {
						if strings.HasPrefix(k, "HISTORIA_") && !env[k] {
							t.Errorf("%s: %s is not the variable of any flag of historia", where, k)
						}
						if strings.HasSuffix(k, "_FILE") {
							checkComposeSecretPath(t, where, k, v, s, f)
						}
					}
					if oneShot {
						oneShots = append(oneShots, s.Command)
					} else {
						if !slices.Equal(s.Command, []string{"serve"}) {
							t.Errorf("%s: command %v, want [serve]", where, s.Command)
						}
						if s.Healthcheck == nil || !slices.Equal(s.Healthcheck.Test[:3], []string{"CMD", "/historia", "healthcheck"}) {
							t.Errorf("%s: no health check by the binary", where)
						}
						for _, p := range s.Ports {
							if !strings.HasSuffix(p, ":8080") {
								t.Errorf("%s: publishes %s, the server listens on 8080", where, p)
							}
						}
						if s.Environment["HISTORIA_ADDR"] != ":8080" {
							t.Errorf("%s: HISTORIA_ADDR %v, want :8080", where, s.Environment["HISTORIA_ADDR"])
						}
						for dep, c := range s.DependsOn {
							if f.Services[dep].Restart == "no" && c.Condition != "service_completed_successfully" {
								t.Errorf("%s: waits for one-shot %s with %q", where, dep, c.Condition)
							}
						}
					}
				} else if !oneShot && s.Healthcheck == nil {
					t.Errorf("%s: no health check", where)
				}
				for _, sec := range s.Secrets {
					if _, ok := f.Secrets[sec]; !ok {
						t.Errorf("%s: secret %s is not defined", where, sec)
					}
				}
				for _, v := range s.Volumes {
					src := strings.SplitN(v, ":", 2)[0]
					if strings.HasPrefix(src, ".") {
						if _, err := os.Stat(filepath.Join(deployDir, src)); err != nil {
							t.Errorf("%s: bind-mounts %s: %v", where, src, err)
						}
					} else if _, ok := f.Volumes[src]; !ok {
						t.Errorf("%s: volume %s is not defined", where, src)
					}
				}
				for dep := range s.DependsOn {
					if _, ok := f.Services[dep]; !ok {
						t.Errorf("%s: depends on unknown service %s", where, dep)
					}
				}
			}
			for sec, d := range f.Secrets {
				if !strings.HasPrefix(d.File, "./secrets/") || !strings.Contains(generate, filepath.Base(d.File)) {
					t.Errorf("secret %s: file %s is not made by secrets/generate.sh", sec, d.File)
				}
			}
			want := [][]string{{"migrate"}}
			if name == "compose.citus.yaml" {
				want = append(want, []string{"citus", "distribute"})
				// distribute after migrate, after the workers are registered.
				if f.Services["distribute"].DependsOn["migrate"].Condition != "service_completed_successfully" ||
					f.Services["migrate"].DependsOn["citus-nodes"].Condition != "service_completed_successfully" ||
					f.Services["historia"].DependsOn["distribute"].Condition != "service_completed_successfully" {
					t.Errorf("the one-shot steps are not chained citus-nodes → migrate → distribute → historia")
				}
			}
			slices.SortFunc(oneShots, func(a, b []string) int { return len(a) - len(b) })
			if !reflect.DeepEqual(oneShots, want) {
				t.Errorf("one-shot historia steps %v, want %v", oneShots, want)
			}
		})
	}
}

// checkComposeSecretPath checks that a *_FILE variable names a secret the
// service mounts.
func checkComposeSecretPath(t *testing.T, where, k string, v any, s composeService, f composeFile) {
	t.Helper()
	p, _ := v.(string)
	name, ok := strings.CutPrefix(p, "/run/secrets/")
	if !ok || !slices.Contains(s.Secrets, name) {
		t.Errorf("%s: %s=%s is not a secret of the service (%v)", where, k, p, s.Secrets)
	}
}

// TestCitusImageAgrees: compose.citus.yaml and the Kubernetes Citus overlay
// default to the same official Citus image, the one the container suite's
// local image stands in for.
func TestCitusImageAgrees(t *testing.T) {
	var f composeFile
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(deployDir, "compose.citus.yaml"))), &f); err != nil {
		t.Fatal(err)
	}
	k, err := readKustomization(filepath.Join(k8sDir, "overlays", "citus"))
	if err != nil {
		t.Fatal(err)
	}
	var k8sImage string
	for _, img := range k.Images {
		if img.Name == "citusdata/citus" {
			k8sImage = img.Name + ":" + img.NewTag
		}
	}
	if k8sImage == "" {
		t.Fatal("k8s/overlays/citus: no images entry for citusdata/citus")
	}
	for _, svc := range []string{"coordinator", "worker1", "worker2", "citus-nodes"} {
		s := f.Services[svc]
		m := defaultVar.FindStringSubmatch(s.Image)
		if m == nil || m[1] != "HISTORIA_CITUS_IMAGE" {
			t.Errorf("compose.citus.yaml service %s: image %q, want ${HISTORIA_CITUS_IMAGE:-%s}", svc, s.Image, k8sImage)
			continue
		}
		if m[2] != k8sImage {
			t.Errorf("compose.citus.yaml service %s defaults to %s, k8s/overlays/citus to %s", svc, m[2], k8sImage)
		}
	}
}
