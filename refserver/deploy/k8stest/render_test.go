package k8stest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// This file renders a kustomization with the small part of kustomize the
// manifests use — resources (files and directories), namespace, labels
// (metadata only), strategic-merge patches from files and image tags —
// so the test runs where neither kubectl nor kustomize is installed.
// Anything else in a kustomization.yaml fails the strict decoding of
// kustomization below, so the subset cannot be outgrown silently. Where
// kubectl is installed, TestRenderMatchesKubectl compares this renderer
// with `kubectl kustomize`.

// kustomization is the subset of kustomize's Kustomization understood here.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources,omitempty"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors,omitempty"`
		IncludeTemplates bool              `json:"includeTemplates,omitempty"`
	} `json:"labels,omitempty"`
	Patches []struct {
		Path string `json:"path"`
	} `json:"patches,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

// object is one Kubernetes object: its decoded JSON form and where it
// came from.
type object struct {
	source string
	json   map[string]any
}

func (o *object) kind() string       { s, _ := o.json["kind"].(string); return s }
func (o *object) apiVersion() string { s, _ := o.json["apiVersion"].(string); return s }
func (o *object) meta() map[string]any {
	m, _ := o.json["metadata"].(map[string]any)
	if m == nil {
		m = map[string]any{}
		o.json["metadata"] = m
	}
	return m
}
func (o *object) name() string      { s, _ := o.meta()["name"].(string); return s }
func (o *object) namespace() string { s, _ := o.meta()["namespace"].(string); return s }
func (o *object) key() string       { return o.kind() + "/" + o.name() }

// typed returns a new value of the k8s.io/api type of apiVersion and
// kind, or an error for a kind these manifests are not expected to hold.
func typed(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}, nil
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 Secret":
		return &corev1.Secret{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "batch/v1 Job":
		return &batchv1.Job{}, nil
	case "networking.k8s.io/v1 Ingress":
		return &networkingv1.Ingress{}, nil
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, nil
	}
	return nil, fmt.Errorf("unexpected kind %q of apiVersion %q", kind, apiVersion)
}

// clusterScoped lists the kinds that take no namespace.
var clusterScoped = map[string]bool{"Namespace": true}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitDocs returns the non-empty YAML documents of data.
func splitDocs(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range docSeparator.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// decodeStrict decodes one YAML document into its k8s.io/api type,
// failing on unknown or duplicate fields, and returns the typed value and
// the generic form.
func decodeStrict(doc []byte) (any, map[string]any, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return nil, nil, err
	}
	v, err := typed(head.APIVersion, head.Kind)
	if err != nil {
		return nil, nil, err
	}
	data, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", head.Kind, err)
	}
	if err := unmarshalStrict(data, v); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", head.Kind, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(doc, &m); err != nil {
		return nil, nil, err
	}
	return v, m, nil
}

// unmarshalStrict decodes JSON as the API server does: field names match
// case-sensitively, and an unknown or duplicate field is an error.
func unmarshalStrict(data []byte, v any) error {
	strict, err := kjson.UnmarshalStrict(data, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// readObjects decodes every object of a manifest file strictly.
func readObjects(path string) ([]*object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*object
	for i, doc := range splitDocs(data) {
		_, m, err := decodeStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%s (document %d): %w", path, i+1, err)
		}
		out = append(out, &object{source: path, json: m})
	}
	return out, nil
}

// readKustomization decodes dir/kustomization.yaml strictly.
func readKustomization(dir string) (*kustomization, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k kustomization
	data, err = yaml.YAMLToJSONStrict(data)
	if err == nil {
		err = unmarshalStrict(data, &k)
	}
	if err != nil {
		return nil, fmt.Errorf("%s/kustomization.yaml: %w (a kustomize feature the test's renderer does not implement?)", dir, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		return nil, fmt.Errorf("%s/kustomization.yaml: apiVersion/kind %s/%s", dir, k.APIVersion, k.Kind)
	}
	return &k, nil
}

// render builds the objects of the kustomization in dir.
func render(dir string) ([]*object, error) {
	k, err := readKustomization(dir)
	if err != nil {
		return nil, err
	}
	var objs []*object
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: resource %s: %w", dir, r, err)
		}
		var more []*object
		if st.IsDir() {
			more, err = render(p)
		} else {
			more, err = readObjects(p)
		}
		if err != nil {
			return nil, err
		}
		for _, o := range more {
			if slices.ContainsFunc(objs, func(x *object) bool { return x.key() == o.key() }) {
				return nil, fmt.Errorf("%s: %s defined twice", dir, o.key())
			}
			objs = append(objs, o)
		}
	}
	for _, p := range k.Patches {
		if err := applyPatch(objs, filepath.Join(dir, p.Path)); err != nil {
			return nil, err
		}
	}
	for _, o := range objs {
		if k.Namespace != "" && !clusterScoped[o.kind()] {
			o.meta()["namespace"] = k.Namespace
		}
		for _, l := range k.Labels {
			if l.IncludeSelectors || l.IncludeTemplates {
				return nil, fmt.Errorf("%s: labels with includeSelectors/includeTemplates are not implemented here", dir)
			}
			labels, _ := o.meta()["labels"].(map[string]any)
			if labels == nil {
				labels = map[string]any{}
				o.meta()["labels"] = labels
			}
			for n, v := range l.Pairs {
				labels[n] = v
			}
		}
		for _, img := range k.Images {
			setImages(o.json, img.Name, img.NewName, img.NewTag, img.Digest)
		}
	}
	return objs, nil
}

// applyPatch applies the strategic-merge patch in path to the object of
// the same kind and name, with the merge keys of its k8s.io/api type.
func applyPatch(objs []*object, path string) error {
	patches, err := readObjects(path)
	if err != nil {
		return err
	}
	for _, p := range patches {
		i := slices.IndexFunc(objs, func(o *object) bool { return o.key() == p.key() })
		if i < 0 {
			return fmt.Errorf("patch %s: no %s to patch", path, p.key())
		}
		orig, err := json.Marshal(objs[i].json)
		if err != nil {
			return err
		}
		patch, err := json.Marshal(p.json)
		if err != nil {
			return err
		}
		schema, err := typed(p.apiVersion(), p.kind())
		if err != nil {
			return err
		}
		merged, err := strategicpatch.StrategicMergePatch(orig, patch, schema)
		if err != nil {
			return fmt.Errorf("patch %s: %w", path, err)
		}
		var m map[string]any
		if err := json.Unmarshal(merged, &m); err != nil {
			return err
		}
		objs[i] = &object{source: objs[i].source + " + " + path, json: m}
	}
	return nil
}

// setImages rewrites the image of every container and init container of
// obj whose image name (without tag or digest) is name.
func setImages(obj map[string]any, name, newName, newTag, digest string) {
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if k == "containers" || k == "initContainers" {
					if list, ok := c.([]any); ok {
						for _, item := range list {
							if ctr, ok := item.(map[string]any); ok {
								if img, ok := ctr["image"].(string); ok {
									ctr["image"] = retag(img, name, newName, newTag, digest)
								}
							}
						}
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(obj)
}

// imageName returns an image reference without its tag or digest.
func imageName(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

func retag(img, name, newName, newTag, digest string) string {
	if imageName(img) != name {
		return img
	}
	base, tag := name, strings.TrimPrefix(strings.TrimPrefix(img, name), ":")
	if newName != "" {
		base = newName
	}
	switch {
	case digest != "":
		return base + "@" + digest
	case newTag != "":
		return base + ":" + newTag
	case tag != "":
		return base + ":" + tag
	}
	return base
}

// decodeTyped decodes a rendered object strictly into its type.
func decodeTyped[T any](o *object) (*T, error) {
	data, err := json.Marshal(o.json)
	if err != nil {
		return nil, err
	}
	var v T
	if err := unmarshalStrict(data, &v); err != nil {
		return nil, fmt.Errorf("%s (%s): %w", o.key(), o.source, err)
	}
	return &v, nil
}
