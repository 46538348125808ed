package k8stest

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerfileInstructions returns the instructions of the Dockerfile's
// last stage, continuation lines joined and comments dropped.
func dockerfileInstructions(text string) (args map[string]string, froms []string, final []string) {
	args = map[string]string{}
	text = regexp.MustCompile(`\\\n\s*`).ReplaceAllString(text, "")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(word) {
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			args[k] = v
		case "FROM":
			froms = append(froms, rest)
			final = nil
			continue
		}
		final = append(final, strings.Join(strings.Fields(line), " "))
	}
	return args, froms, final
}

// TestDockerfile checks the multi-stage Dockerfile: base images chosen by
// build arguments (defaults: the public images, Go matching go.mod), a
// static build, and a final stage configured exactly as build-image.sh
// configures its imported image.
func TestDockerfile(t *testing.T) {
	text := readFile(t, filepath.Join(deployDir, "Dockerfile"))
	args, froms, final := dockerfileInstructions(text)
	if len(froms) != 2 || !strings.HasPrefix(froms[0], "${GO_IMAGE}") || froms[1] != "${RUNTIME_IMAGE}" {
		t.Errorf("stages FROM %v, want ${GO_IMAGE} then ${RUNTIME_IMAGE}", froms)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readFile(t, filepath.Join(repoRoot, "refserver", "go.mod")))
	if goVersion == nil || !strings.HasPrefix(args["GO_IMAGE"], "golang:"+goVersion[1]+"-") {
		t.Errorf("ARG GO_IMAGE=%s does not match refserver/go.mod's go %v", args["GO_IMAGE"], goVersion)
	}
	if !strings.Contains(args["RUNTIME_IMAGE"], "distroless/static") || !strings.HasSuffix(args["RUNTIME_IMAGE"], ":nonroot") {
		t.Errorf("ARG RUNTIME_IMAGE=%s, want distroless static nonroot", args["RUNTIME_IMAGE"])
	}
	if !strings.Contains(text, "CGO_ENABLED=0") || !strings.Contains(text, "./cmd/historia") {
		t.Error("the Dockerfile does not build ./cmd/historia with CGO_ENABLED=0")
	}
	// The runtime configuration of the Dockerfile and of build-image.sh's
	// docker import are the same.
	var fromDockerfile []string
	for _, ins := range final {
		switch strings.Fields(ins)[0] {
		case "USER", "ENTRYPOINT", "CMD", "EXPOSE", "ENV", "HEALTHCHECK":
			fromDockerfile = append(fromDockerfile, ins)
		}
	}
	var fromScript []string
	for _, m := range regexp.MustCompile(`--change '([^']*)'`).FindAllStringSubmatch(readFile(t, filepath.Join(deployDir, "build-image.sh")), -1) {
		ins := strings.Join(strings.Fields(m[1]), " ")
		switch strings.Fields(ins)[0] {
		case "USER", "ENTRYPOINT", "CMD", "EXPOSE", "ENV", "HEALTHCHECK":
			fromScript = append(fromScript, ins)
		}
	}
	slices.Sort(fromDockerfile)
	slices.Sort(fromScript)
	if !slices.Equal(fromDockerfile, fromScript) {
		t.Errorf("the Dockerfile and build-image.sh configure the image differently:\nDockerfile:     %q\nbuild-image.sh: %q", fromDockerfile, fromScript)
	}
	for _, want := range []string{"USER 65532:65532", `ENTRYPOINT ["/historia"]`, `CMD ["serve"]`, "EXPOSE 8080", "ENV HISTORIA_ADDR=:8080"} {
		if !slices.Contains(fromDockerfile, want) {
			t.Errorf("the image lacks %s", want)
		}
	}
	if !slices.ContainsFunc(fromDockerfile, func(s string) bool {
		return strings.HasPrefix(s, "HEALTHCHECK") && strings.Contains(s, `CMD ["/historia", "healthcheck"`)
	}) {
		t.Error("the image's HEALTHCHECK is not done by the binary")
	}
}

// TestScriptsParse checks the shell scripts' syntax (bash -n).
func TestScriptsParse(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	for _, s := range []string{"build-image.sh", "citus-demo.sh", "secrets/generate.sh", "citus/add-nodes.sh"} {
		if out, err := exec.Command(bash, "-n", filepath.Join(deployDir, s)).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", s, err, out)
		}
	}
}
