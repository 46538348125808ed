package k8stest

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestManifestsDecodeStrictly decodes every object of every manifest
// file (patches included) into its k8s.io/api type; an unknown or
// misspelt field fails.
func TestManifestsDecodeStrictly(t *testing.T) {
	n := 0
	err := filepath.WalkDir(k8sDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isYAML(p) || filepath.Base(p) == "kustomization.yaml" {
			return err
		}
		objs, err := readObjects(p)
		if err != nil {
			t.Error(err)
			return nil
		}
		if len(objs) == 0 {
			t.Errorf("%s holds no object", p)
		}
		n += len(objs)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("only %d objects under %s", n, k8sDir)
	}
}

// TestStrictDecodingRefusesUnknownFields shows the decoding above can
// fail: a misspelt field and an unknown kind are errors.
func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	for name, doc := range map[string]string{
		"misspelt field": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n",
		"nested field":   "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: 80, targetport: 8080}]\n",
		"duplicate key":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\ndata: {c: d}\n",
		"unknown kind":   "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
	} {
		if _, _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	if _, _, err := decodeStrict([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: 2\n")); err != nil {
		t.Errorf("a valid Deployment: %v", err)
	}
}

func isYAML(p string) bool { return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") }

// TestKustomizationsListTheirFiles checks that each kustomization.yaml
// lists every manifest file of its directory (as a resource or a patch),
// that everything it lists exists, and that every directory with
// manifests has a kustomization.
func TestKustomizationsListTheirFiles(t *testing.T) {
	dirs := 0
	err := filepath.WalkDir(k8sDir, func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		onDisk := map[string]bool{}
		for _, e := range entries {
			if !e.IsDir() && isYAML(e.Name()) && e.Name() != "kustomization.yaml" {
				onDisk[e.Name()] = true
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "kustomization.yaml")); err != nil {
			if len(onDisk) > 0 {
				t.Errorf("%s has manifests but no kustomization.yaml", dir)
			}
			return nil
		}
		dirs++
		k, err := readKustomization(dir)
		if err != nil {
			t.Error(err)
			return nil
		}
		listed := map[string]bool{}
		var paths []string
		paths = append(paths, k.Resources...)
		for _, p := range k.Patches {
			paths = append(paths, p.Path)
		}
		for _, r := range paths {
			p := filepath.Join(dir, r)
			st, err := os.Stat(p)
			if err != nil {
				t.Errorf("%s/kustomization.yaml lists %s, which does not exist", dir, r)
				continue
			}
			if st.IsDir() {
				if _, err := os.Stat(filepath.Join(p, "kustomization.yaml")); err != nil {
					t.Errorf("%s/kustomization.yaml lists directory %s, which has no kustomization.yaml", dir, r)
				}
				continue
			}
			if filepath.Dir(filepath.Clean(p)) == filepath.Clean(dir) {
				if listed[r] {
					t.Errorf("%s/kustomization.yaml lists %s twice", dir, r)
				}
				listed[r] = true
			}
		}
		for f := range onDisk {
			if !listed[f] {
				t.Errorf("%s/%s is not listed in its kustomization.yaml", dir, f)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + len(overlays); dirs != want {
		t.Errorf("found %d kustomizations, want %d (base and %v)", dirs, want, overlays)
	}
}

// rendered is an overlay rendered and decoded into its types.
type rendered struct {
	objs         []*object
	byKey        map[string]*object
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	jobs         []*batchv1.Job
	services     []*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	ingresses    []*networkingv1.Ingress
	pdbs         []*policyv1.PodDisruptionBudget
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	netpols      []*networkingv1.NetworkPolicy
}

// workload is a pod template and the object that holds it.
type workload struct {
	key  string
	meta map[string]string // pod labels
	spec *corev1.PodSpec
}

func (r *rendered) workloads() []workload {
	var ws []workload
	for _, d := range r.deployments {
		ws = append(ws, workload{"Deployment/" + d.Name, d.Spec.Template.Labels, &d.Spec.Template.Spec})
	}
	for _, s := range r.statefulSets {
		ws = append(ws, workload{"StatefulSet/" + s.Name, s.Spec.Template.Labels, &s.Spec.Template.Spec})
	}
	for _, j := range r.jobs {
		ws = append(ws, workload{"Job/" + j.Name, j.Spec.Template.Labels, &j.Spec.Template.Spec})
	}
	return ws
}

func mustDecode[T any](t *testing.T, o *object) *T {
	t.Helper()
	v, err := decodeTyped[T](o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func renderOverlay(t *testing.T, name string) *rendered {
	t.Helper()
	objs, err := render(filepath.Join(k8sDir, "overlays", name))
	if err != nil {
		t.Fatal(err)
	}
	r := &rendered{objs: objs, byKey: map[string]*object{}, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, o := range objs {
		r.byKey[o.key()] = o
		switch o.kind() {
		case "Deployment":
			r.deployments = append(r.deployments, mustDecode[appsv1.Deployment](t, o))
		case "StatefulSet":
			r.statefulSets = append(r.statefulSets, mustDecode[appsv1.StatefulSet](t, o))
		case "Job":
			r.jobs = append(r.jobs, mustDecode[batchv1.Job](t, o))
		case "Service":
			r.services = append(r.services, mustDecode[corev1.Service](t, o))
		case "ConfigMap":
			r.configMaps[o.name()] = mustDecode[corev1.ConfigMap](t, o)
		case "Secret":
			r.secrets[o.name()] = mustDecode[corev1.Secret](t, o)
		case "Ingress":
			r.ingresses = append(r.ingresses, mustDecode[networkingv1.Ingress](t, o))
		case "PodDisruptionBudget":
			r.pdbs = append(r.pdbs, mustDecode[policyv1.PodDisruptionBudget](t, o))
		case "HorizontalPodAutoscaler":
			r.hpas = append(r.hpas, mustDecode[autoscalingv2.HorizontalPodAutoscaler](t, o))
		case "NetworkPolicy":
			r.netpols = append(r.netpols, mustDecode[networkingv1.NetworkPolicy](t, o))
		}
	}
	return r
}

// TestOverlays renders each overlay and checks the invariants of a
// deployable installation.
func TestOverlays(t *testing.T) {
	env := serverEnv(t)
	wantImage := defaultImage(t)
	usedExternal := map[string]bool{}
	for _, name := range overlays {
		t.Run(name, func(t *testing.T) {
			r := renderOverlay(t, name)
			checkNamespace(t, r)
			checkServer(t, r, wantImage)
			checkPodSecurity(t, r)
			checkImages(t, r, wantImage)
			checkJob(t, r, name)
			checkReferences(t, r, env, usedExternal)
			checkSelectors(t, r)
			if name == "citus" {
				checkCitus(t, r)
			}
		})
	}
	// Every Secret documented as external is used, and docs/deploy.md
	// tells how to make each.
	docs := readFile(t, filepath.Join(repoRoot, "docs", "deploy.md"))
	for s, keys := range externalSecrets {
		if !usedExternal[s] {
			t.Errorf("external Secret %s is listed in the test but no overlay uses it", s)
		}
		if !strings.Contains(docs, s) {
			t.Errorf("docs/deploy.md does not mention the Secret %s", s)
		}
		for _, k := range keys {
			if !strings.Contains(docs, k) {
				t.Errorf("docs/deploy.md does not mention key %s of the Secret %s", k, s)
			}
		}
	}
}

func checkNamespace(t *testing.T, r *rendered) {
	t.Helper()
	ns := ""
	for _, o := range r.objs {
		if o.kind() == "Namespace" {
			ns = o.name()
		}
	}
	if ns == "" {
		t.Fatal("no Namespace object")
	}
	for _, o := range r.objs {
		if !clusterScoped[o.kind()] && o.namespace() != ns {
			t.Errorf("%s (%s) is in namespace %q, want %q", o.key(), o.source, o.namespace(), ns)
		}
	}
}

func checkServer(t *testing.T, r *rendered, wantImage string) {
	t.Helper()
	var d *appsv1.Deployment
	for _, x := range r.deployments {
		if x.Name == "historia" {
			d = x
		}
	}
	if d == nil {
		t.Fatal("no Deployment historia")
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("Deployment historia has %d containers, want 1", len(d.Spec.Template.Spec.Containers))
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != wantImage {
		t.Errorf("server image %q, want %q (build-image.sh's default)", c.Image, wantImage)
	}
	if !slices.Equal(c.Args, []string{"serve"}) || len(c.Command) != 0 {
		t.Errorf("server runs command %v args %v, want args [serve]", c.Command, c.Args)
	}
	port := int32(0)
	for _, p := range c.Ports {
		if p.Name == "http" {
			port = p.ContainerPort
		}
	}
	if port == 0 {
		t.Fatal("server has no port named http")
	}
	cfg := containerEnv(r, c)
	if addr := cfg["HISTORIA_ADDR"]; !strings.HasSuffix(addr, fmt.Sprintf(":%d", port)) {
		t.Errorf("HISTORIA_ADDR %q does not listen on the container port %d", addr, port)
	}
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("server has no HTTP %s probe", what)
			return
		}
		if p.HTTPGet.Path != path {
			t.Errorf("%s probe on %s, want %s", what, p.HTTPGet.Path, path)
		}
		if p.HTTPGet.Port != intstr.FromString("http") && p.HTTPGet.Port != intstr.FromInt32(port) {
			t.Errorf("%s probe on port %s, want the http port", what, p.HTTPGet.Port.String())
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	if c.StartupProbe != nil {
		probe("startup", c.StartupProbe, "/healthz")
	}
	// The pod outlives the server's graceful shutdown.
	if s := cfg["HISTORIA_SHUTDOWN_TIMEOUT"]; s != "" {
		dur, err := time.ParseDuration(s)
		if err != nil {
			t.Errorf("HISTORIA_SHUTDOWN_TIMEOUT %q: %v", s, err)
		}
		grace := int64(30)
		if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = *g
		}
		if time.Duration(grace)*time.Second <= dur {
			t.Errorf("terminationGracePeriodSeconds %d is not longer than HISTORIA_SHUTDOWN_TIMEOUT %s", grace, s)
		}
	}
	// Rolling without losing capacity, and a budget that lets nodes drain.
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("Deployment historia: want a rolling update with maxUnavailable 0")
	}
	if len(r.hpas) != 1 || len(r.pdbs) != 1 {
		t.Fatalf("want one HorizontalPodAutoscaler and one PodDisruptionBudget, have %d and %d", len(r.hpas), len(r.pdbs))
	}
	hpa, pdb := r.hpas[0], r.pdbs[0]
	if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != d.Name {
		t.Errorf("HPA targets %s/%s, want Deployment/%s", hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name, d.Name)
	}
	minReplicas := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = *hpa.Spec.MinReplicas
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != minReplicas {
		t.Errorf("Deployment replicas differ from the HPA's minReplicas %d", minReplicas)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() >= int(minReplicas) {
		t.Errorf("PDB minAvailable must be below the HPA's minReplicas %d, or no node can drain", minReplicas)
	}
	if len(hpa.Spec.Metrics) == 0 || hpa.Spec.MaxReplicas <= minReplicas {
		t.Errorf("HPA has no metric or no room to scale")
	}
}

// containerEnv returns the environment of c: its env values over the
// ConfigMaps it takes with envFrom.
func containerEnv(r *rendered, c corev1.Container) map[string]string {
	out := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			if cm := r.configMaps[ef.ConfigMapRef.Name]; cm != nil {
				for k, v := range cm.Data {
					out[ef.Prefix+k] = v
				}
			}
		}
	}
	for _, e := range c.Env {
		out[e.Name] = e.Value
	}
	return out
}

func checkPodSecurity(t *testing.T, r *rendered) {
	t.Helper()
	for _, w := range r.workloads() {
		ps := w.spec.SecurityContext
		if ps == nil {
			ps = &corev1.PodSecurityContext{}
		}
		if w.spec.AutomountServiceAccountToken == nil || *w.spec.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken is not false", w.key)
		}
		if w.spec.HostNetwork || w.spec.HostPID || w.spec.HostIPC {
			t.Errorf("%s: uses a host namespace", w.key)
		}
		for _, c := range slices.Concat(w.spec.InitContainers, w.spec.Containers) {
			where := w.key + " container " + c.Name
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s: no securityContext", where)
				continue
			}
			nonRoot := sc.RunAsNonRoot
			if nonRoot == nil {
				nonRoot = ps.RunAsNonRoot
			}
			if nonRoot == nil || !*nonRoot {
				t.Errorf("%s: runAsNonRoot is not true", where)
			}
			for _, uid := range []*int64{sc.RunAsUser, ps.RunAsUser} {
				if uid != nil && *uid == 0 {
					t.Errorf("%s: runs as uid 0", where)
				}
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: readOnlyRootFilesystem is not true", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation is not false", where)
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s: privileged", where)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: capabilities must drop ALL and add none", where)
			}
			seccomp := sc.SeccompProfile
			if seccomp == nil {
				seccomp = ps.SeccompProfile
			}
			if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: seccomp profile is not RuntimeDefault", where)
			}
			req, lim := c.Resources.Requests, c.Resources.Limits
			if req.Cpu().IsZero() || req.Memory().IsZero() {
				t.Errorf("%s: no cpu and memory requests", where)
			}
			if lim.Memory().IsZero() || lim.Memory().Cmp(*req.Memory()) < 0 {
				t.Errorf("%s: no memory limit at or above the request", where)
			}
			if _, ok := lim[corev1.ResourceCPU]; ok && lim.Cpu().Cmp(*req.Cpu()) < 0 {
				t.Errorf("%s: cpu limit below the request", where)
			}
		}
	}
}

func checkImages(t *testing.T, r *rendered, wantImage string) {
	t.Helper()
	byName := map[string]map[string][]string{} // image name -> full ref -> users
	for _, w := range r.workloads() {
		for _, c := range slices.Concat(w.spec.InitContainers, w.spec.Containers) {
			where := w.key + "/" + c.Name
			ref := c.Image
			if imageName(ref) == ref || strings.HasSuffix(ref, ":latest") {
				t.Errorf("%s: image %q has no pinned tag or digest", where, ref)
			}
			n := imageName(ref)
			if byName[n] == nil {
				byName[n] = map[string][]string{}
			}
			byName[n][ref] = append(byName[n][ref], where)
			if c.ImagePullPolicy == corev1.PullAlways {
				t.Errorf("%s: imagePullPolicy Always (the image may be local only)", where)
			}
		}
	}
	for n, refs := range byName {
		if len(refs) > 1 {
			t.Errorf("image %s is used with different tags: %v", n, refs)
		}
	}
	if refs := byName[historiaImage]; len(refs) != 1 || refs[wantImage] == nil {
		t.Errorf("historia image references %v, want all %s", refs, wantImage)
	}
}

// jobStep is one container of the Job, in the order the Job runs them.
type jobStep struct {
	name, image string
	argv        []string
}

func checkJob(t *testing.T, r *rendered, overlay string) {
	t.Helper()
	if len(r.jobs) != 1 || r.jobs[0].Name != "historia-migrate" {
		t.Fatalf("want one Job historia-migrate, have %d", len(r.jobs))
	}
	j := r.jobs[0]
	spec := j.Spec.Template.Spec
	if spec.RestartPolicy != corev1.RestartPolicyOnFailure && spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("Job restartPolicy %q", spec.RestartPolicy)
	}
	if j.Spec.BackoffLimit == nil || j.Spec.ActiveDeadlineSeconds == nil {
		t.Errorf("Job without backoffLimit or activeDeadlineSeconds")
	}
	if len(spec.Containers) != 1 {
		t.Errorf("Job has %d main containers, want 1 (init containers run in order, main containers do not)", len(spec.Containers))
	}
	var steps []jobStep
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		steps = append(steps, jobStep{c.Name, c.Image, slices.Concat(c.Command, c.Args)})
	}
	var historia [][]string
	for _, s := range steps {
		if imageName(s.image) == historiaImage {
			historia = append(historia, s.argv)
		}
	}
	want := [][]string{{"migrate"}, {"citus", "distribute"}}
	if !reflect.DeepEqual(historia, want) {
		t.Errorf("the Job runs historia with %v, want %v in this order", historia, want)
	}
	if last := steps[len(steps)-1]; !slices.Equal(last.argv, []string{"citus", "distribute"}) {
		t.Errorf("the Job's last step is %s %v, want citus distribute", last.name, last.argv)
	}
	if overlay == "citus" {
		i := slices.IndexFunc(steps, func(s jobStep) bool { return s.name == "citus-nodes" })
		if i < 0 || i == len(steps)-1 || !strings.HasSuffix(strings.Join(steps[i].argv, " "), "/citus/add-nodes.sh") {
			t.Errorf("the citus Job does not register the workers (add-nodes.sh) before distributing: %v", steps)
		}
	} else if len(steps) != 2 {
		t.Errorf("the %s Job has steps %v, want migrate and distribute", overlay, steps)
	}
}

// checkReferences checks that every Secret and ConfigMap a pod or an
// Ingress names exists or is external, that every file named by a
// *_FILE variable lies in a mounted volume holding that key, and that
// every HISTORIA_* variable is a flag of the server.
func checkReferences(t *testing.T, r *rendered, serverEnv map[string]bool, usedExternal map[string]bool) {
	t.Helper()
	secret := func(where, name string, keys ...string) {
		if _, ok := r.secrets[name]; ok {
			return
		}
		ext, ok := externalSecrets[name]
		if !ok {
			t.Errorf("%s: Secret %s is neither in the manifests nor documented as external", where, name)
			return
		}
		usedExternal[name] = true
		for _, k := range keys {
			if !slices.Contains(ext, k) {
				t.Errorf("%s: key %s of Secret %s is not documented (documented: %v)", where, k, name, ext)
			}
		}
	}
	configMap := func(where, name string, keys ...string) {
		cm, ok := r.configMaps[name]
		if !ok {
			t.Errorf("%s: ConfigMap %s does not exist", where, name)
			return
		}
		for _, k := range keys {
			if _, ok := cm.Data[k]; !ok {
				t.Errorf("%s: ConfigMap %s has no key %s", where, name, k)
			}
		}
	}
	for _, ing := range r.ingresses {
		for _, tls := range ing.Spec.TLS {
			secret("Ingress/"+ing.Name, tls.SecretName)
		}
	}
	for _, cm := range r.configMaps {
		for k := range cm.Data {
			if strings.HasPrefix(k, "HISTORIA_") && !serverEnv[k] {
				t.Errorf("ConfigMap %s: %s is not the variable of any flag of historia", cm.Name, k)
			}
		}
	}
	for _, w := range r.workloads() {
		vols := map[string]corev1.Volume{}
		for _, v := range w.spec.Volumes {
			vols[v.Name] = v
			switch {
			case v.Secret != nil:
				secret(w.key+" volume "+v.Name, v.Secret.SecretName)
			case v.ConfigMap != nil:
				configMap(w.key+" volume "+v.Name, v.ConfigMap.Name)
			}
		}
		for _, c := range slices.Concat(w.spec.InitContainers, w.spec.Containers) {
			where := w.key + "/" + c.Name
			for _, m := range c.VolumeMounts {
				if _, ok := vols[m.Name]; !ok && !isClaim(r, w.key, m.Name) {
					t.Errorf("%s: mounts %s, which is no volume of the pod", where, m.Name)
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil {
					configMap(where, ef.ConfigMapRef.Name)
				}
				if ef.SecretRef != nil {
					secret(where, ef.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					secret(where, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
				}
				if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
					configMap(where, e.ValueFrom.ConfigMapKeyRef.Name, e.ValueFrom.ConfigMapKeyRef.Key)
				}
			}
			env := containerEnv(r, c)
			for k, v := range env {
				if imageName(c.Image) == historiaImage && strings.HasPrefix(k, "HISTORIA_") && !serverEnv[k] {
					t.Errorf("%s: %s is not the variable of any flag of historia", where, k)
				}
				if !strings.HasSuffix(k, "_FILE") && !strings.HasSuffix(k, "_FILES") {
					continue
				}
				for _, p := range strings.Split(v, ",") {
					if p = strings.TrimSpace(p); p != "" {
						checkFile(t, r, where, k, p, c, vols, secret)
					}
				}
			}
		}
	}
}

// isClaim reports whether name is a volume claim template of the
// StatefulSet key.
func isClaim(r *rendered, key, name string) bool {
	for _, s := range r.statefulSets {
		if "StatefulSet/"+s.Name == key {
			for _, c := range s.Spec.VolumeClaimTemplates {
				if c.Name == name {
					return true
				}
			}
		}
	}
	return false
}

// checkFile checks that file p (the value of variable k) is a key of a
// Secret or ConfigMap mounted in c.
func checkFile(t *testing.T, r *rendered, where, k, p string, c corev1.Container, vols map[string]corev1.Volume, secret func(string, string, ...string)) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if path.Dir(p) != path.Clean(m.MountPath) {
			continue
		}
		v := vols[m.Name]
		switch {
		case v.Secret != nil:
			secret(where+" "+k, v.Secret.SecretName, path.Base(p))
		case v.ConfigMap != nil:
			if cm := r.configMaps[v.ConfigMap.Name]; cm == nil || cm.Data[path.Base(p)] == "" {
				t.Errorf("%s: %s=%s: ConfigMap %s has no key %s", where, k, p, v.ConfigMap.Name, path.Base(p))
			}
		default:
			t.Errorf("%s: %s=%s is not in a Secret or ConfigMap volume", where, k, p)
		}
		return
	}
	t.Errorf("%s: %s=%s: no volume is mounted at %s", where, k, p, path.Dir(p))
}

func selects(sel map[string]string, podLabels map[string]string) bool {
	return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(podLabels))
}

func checkSelectors(t *testing.T, r *rendered) {
	t.Helper()
	ws := r.workloads()
	for _, d := range r.deployments {
		if d.Spec.Selector == nil || !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("Deployment %s: selector does not select its pods", d.Name)
		}
	}
	for _, s := range r.statefulSets {
		if s.Spec.Selector == nil || !selects(s.Spec.Selector.MatchLabels, s.Spec.Template.Labels) {
			t.Errorf("StatefulSet %s: selector does not select its pods", s.Name)
		}
		i := slices.IndexFunc(r.services, func(svc *corev1.Service) bool { return svc.Name == s.Spec.ServiceName })
		if i < 0 || r.services[i].Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("StatefulSet %s: serviceName %q is not a headless Service", s.Name, s.Spec.ServiceName)
		} else if !selects(r.services[i].Spec.Selector, s.Spec.Template.Labels) {
			t.Errorf("StatefulSet %s: its Service %s does not select its pods", s.Name, s.Spec.ServiceName)
		}
		if len(s.Spec.VolumeClaimTemplates) == 0 {
			t.Errorf("StatefulSet %s has no persistent volume", s.Name)
		}
		for _, vct := range s.Spec.VolumeClaimTemplates {
			if q := vct.Spec.Resources.Requests[corev1.ResourceStorage]; q.Cmp(resource.MustParse("1Gi")) < 0 {
				t.Errorf("StatefulSet %s: claim %s asks for %s", s.Name, vct.Name, q.String())
			}
		}
	}
	for _, svc := range r.services {
		var pods []workload
		for _, w := range ws {
			if w.key[:3] != "Job" && selects(svc.Spec.Selector, w.meta) {
				pods = append(pods, w)
			}
		}
		if len(pods) == 0 {
			t.Errorf("Service %s selects no pods", svc.Name)
			continue
		}
		for _, p := range svc.Spec.Ports {
			if p.TargetPort.Type != intstr.String {
				continue
			}
			for _, w := range pods {
				if !hasPort(w.spec, p.TargetPort.StrVal) {
					t.Errorf("Service %s: %s has no port named %s", svc.Name, w.key, p.TargetPort.StrVal)
				}
			}
		}
	}
	for _, pdb := range r.pdbs {
		n := 0
		for _, w := range ws {
			if pdb.Spec.Selector != nil && selects(pdb.Spec.Selector.MatchLabels, w.meta) {
				n++
				if w.key != "Deployment/historia" {
					t.Errorf("PDB %s selects %s", pdb.Name, w.key)
				}
			}
		}
		if n == 0 {
			t.Errorf("PDB %s selects no pods", pdb.Name)
		}
	}
	for _, ing := range r.ingresses {
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				b := p.Backend.Service
				i := slices.IndexFunc(r.services, func(s *corev1.Service) bool { return s.Name == b.Name })
				if i < 0 {
					t.Errorf("Ingress %s: no Service %s", ing.Name, b.Name)
					continue
				}
				if !slices.ContainsFunc(r.services[i].Spec.Ports, func(sp corev1.ServicePort) bool {
					return sp.Name == b.Port.Name && b.Port.Name != "" || sp.Port == b.Port.Number && b.Port.Number != 0
				}) {
					t.Errorf("Ingress %s: Service %s has no port %v", ing.Name, b.Name, b.Port)
				}
			}
		}
	}
	for _, np := range r.netpols {
		n := 0
		for _, w := range ws {
			if selects(np.Spec.PodSelector.MatchLabels, w.meta) {
				n++
				for _, rule := range np.Spec.Ingress {
					for _, p := range rule.Ports {
						if p.Port != nil && p.Port.Type == intstr.String && !hasPort(w.spec, p.Port.StrVal) {
							t.Errorf("NetworkPolicy %s: %s has no port named %s", np.Name, w.key, p.Port.StrVal)
						}
					}
				}
			}
		}
		if n == 0 {
			t.Errorf("NetworkPolicy %s selects no pods", np.Name)
		}
	}
}

func hasPort(spec *corev1.PodSpec, name string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

func checkCitus(t *testing.T, r *rendered) {
	t.Helper()
	roles := map[string]*appsv1.StatefulSet{}
	for _, s := range r.statefulSets {
		roles[s.Spec.Template.Labels["app.kubernetes.io/component"]] = s
	}
	coord, workers := roles["coordinator"], roles["worker"]
	if coord == nil || workers == nil {
		t.Fatalf("want a coordinator and a worker StatefulSet, have %v", roles)
	}
	if coord.Spec.Replicas == nil || *coord.Spec.Replicas != 1 {
		t.Errorf("the coordinator must have one replica")
	}
	if workers.Spec.Replicas == nil || *workers.Spec.Replicas < 2 {
		t.Errorf("want at least two workers")
	}
	// The script in the ConfigMap is the one compose.citus.yaml runs.
	cm := r.configMaps["citus-scripts"]
	if cm == nil {
		t.Fatal("no ConfigMap citus-scripts")
	}
	if want := readFile(t, filepath.Join(deployDir, "citus", "add-nodes.sh")); cm.Data["add-nodes.sh"] != want {
		t.Errorf("ConfigMap citus-scripts: add-nodes.sh differs from refserver/deploy/citus/add-nodes.sh")
	}
	// The Job registers exactly the workers the StatefulSet makes, under
	// their stable names, and names the coordinator the same way.
	j := r.jobs[0]
	for _, c := range j.Spec.Template.Spec.InitContainers {
		if c.Name != "citus-nodes" {
			continue
		}
		env := containerEnv(r, c)
		var want []string
		for i := 0; i < int(*workers.Spec.Replicas); i++ {
			want = append(want, fmt.Sprintf("%s-%d.%s", workers.Name, i, workers.Spec.ServiceName))
		}
		if got := strings.Fields(env["CITUS_WORKERS"]); !slices.Equal(got, want) {
			t.Errorf("CITUS_WORKERS %v, want %v (the worker StatefulSet's pods)", got, want)
		}
		wantCoord := fmt.Sprintf("%s-0.%s", coord.Name, coord.Spec.ServiceName)
		if env["CITUS_COORDINATOR"] != wantCoord || env["PGHOST"] != wantCoord {
			t.Errorf("CITUS_COORDINATOR %q, PGHOST %q, want %q", env["CITUS_COORDINATOR"], env["PGHOST"], wantCoord)
		}
	}
}

// TestRenderMatchesKubectl compares the test's renderer with `kubectl
// kustomize` where kubectl is installed (it is not a Debian package, so
// this cross-check is optional even in CI).
func TestRenderMatchesKubectl(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed; the renderer is checked by the other tests only")
	}
	for _, name := range overlays {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(k8sDir, "overlays", name)
			out, err := exec.Command(kubectl, "kustomize", dir).Output()
			if err != nil {
				t.Fatalf("kubectl kustomize %s: %v", dir, err)
			}
			theirs := map[string]any{}
			for _, doc := range splitDocs(out) {
				_, m, err := decodeStrict(doc)
				if err != nil {
					t.Fatalf("kubectl's output: %v", err)
				}
				o := &object{json: m}
				theirs[o.key()] = normalize(t, m)
			}
			objs, err := render(dir)
			if err != nil {
				t.Fatal(err)
			}
			ours := map[string]any{}
			for _, o := range objs {
				ours[o.key()] = normalize(t, o.json)
			}
			for k, v := range theirs {
				if !reflect.DeepEqual(ours[k], v) {
					a, _ := json.MarshalIndent(ours[k], "", " ")
					b, _ := json.MarshalIndent(v, "", " ")
					t.Errorf("%s differs:\nours:    %s\nkubectl: %s", k, a, b)
				}
			}
			for k := range ours {
				if _, ok := theirs[k]; !ok {
					t.Errorf("%s is rendered here but not by kubectl", k)
				}
			}
		})
	}
}

func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
