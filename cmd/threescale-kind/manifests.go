package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// What the manifests of fixtures/kind install, by name. The tests hold the manifests to
// these.
const (
	// manifestRoot is fixtures/kind inside fixtures.Kind.
	manifestRoot = "kind"
	// crdDir holds the CustomResourceDefinitions, applied before everything else.
	crdDir = "crds"
	// namespace is where every namespaced object goes.
	namespace = "3scale"
	// apiManagerName is the APIManager 50-apimanager.yaml creates.
	apiManagerName = "3scale"
	// operatorDeployment and operatorContainer run the 3scale operator (30-operator.yaml).
	operatorDeployment = "threescale-operator-controller-manager-v2"
	operatorContainer  = "manager"
	// relatedImagePrefix starts the operator's component image variables
	// (RELATED_IMAGE_BACKEND, ...).
	relatedImagePrefix = "RELATED_IMAGE_"
)

// notManifests are YAML files of fixtures/kind that are not Kubernetes objects, and why.
var notManifests = map[string]string{
	"target.yaml": "the harness's target file for this install",
}

// clusterScoped are the kinds of fixtures/kind that have no namespace.
var clusterScoped = map[string]bool{
	"CustomResourceDefinition": true,
	"Namespace":                true,
	"ClusterRole":              true,
	"ClusterRoleBinding":       true,
}

// manifest is one object of fixtures/kind and where it was read.
type manifest struct {
	file  string // path inside the FS, e.g. "kind/crds/route.yaml"
	index int    // 1-based position of the document in the file
	obj   *unstructured.Unstructured
}

func (m manifest) String() string {
	s := fmt.Sprintf("%s document %d", m.file, m.index)
	if m.obj != nil {
		s += fmt.Sprintf(" (%s %s)", m.obj.GetKind(), m.obj.GetName())
	}
	return s
}

func (m manifest) isCRD() bool {
	return m.obj.GetKind() == "CustomResourceDefinition"
}

// manifestFiles lists the manifest files under root in the order they are applied: every
// crds/*.yaml by name, then every *.yaml directly under root by name (their numeric
// prefixes give the order: namespace, datastores, storage, operator, upstream, APIManager,
// exposure). Files that are not YAML (README.md) and the notManifests are left out; any
// other directory is an error, so that a new one is not silently skipped.
func manifestFiles(fsys fs.FS, root string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", root, err)
	}
	var crds, rest []string
	for _, e := range entries {
		p := path.Join(root, e.Name())
		if e.IsDir() {
			if e.Name() != crdDir {
				return nil, fmt.Errorf("%s: unexpected directory (only %s/ holds manifests)", p, crdDir)
			}
			sub, err := fs.ReadDir(fsys, p)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", p, err)
			}
			for _, s := range sub {
				switch {
				case s.IsDir():
					return nil, fmt.Errorf("%s: unexpected directory", path.Join(p, s.Name()))
				case isYAML(s.Name()):
					crds = append(crds, path.Join(p, s.Name()))
				}
			}
			continue
		}
		if _, skip := notManifests[e.Name()]; skip || !isYAML(e.Name()) {
			continue
		}
		rest = append(rest, p)
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("%s: no CRD under %s/", root, crdDir)
	}
	if len(rest) == 0 {
		return nil, fmt.Errorf("%s: no manifest", root)
	}
	sort.Strings(crds)
	sort.Strings(rest)
	return append(crds, rest...), nil
}

func isYAML(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// loadManifests reads every manifest file under root, in apply order, and checks what an
// apply needs of each object: apiVersion, kind and name; a namespace (the install's) for
// every namespaced kind and none for a cluster-scoped one; one CustomResourceDefinition per
// file under crds/ and none elsewhere; no object twice. Every problem is reported, each
// with its file and document.
func loadManifests(fsys fs.FS, root string) ([]manifest, error) {
	files, err := manifestFiles(fsys, root)
	if err != nil {
		return nil, err
	}
	var (
		out  []manifest
		errs []error
		seen = map[string]string{}
	)
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		docs, err := decodeManifests(f, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		inCRDDir := path.Base(path.Dir(f)) == crdDir
		if inCRDDir && len(docs) != 1 {
			errs = append(errs, fmt.Errorf("%s: %d objects, want exactly one CustomResourceDefinition per file", f, len(docs)))
		}
		for _, m := range docs {
			if err := checkManifest(m, inCRDDir); err != nil {
				errs = append(errs, err)
				continue
			}
			key := m.obj.GetAPIVersion() + "/" + m.obj.GetKind() + " " + m.obj.GetNamespace() + "/" + m.obj.GetName()
			if prev, dup := seen[key]; dup {
				errs = append(errs, fmt.Errorf("%s: %s is already in %s", m, key, prev))
				continue
			}
			seen[key] = m.String()
			out = append(out, m)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func checkManifest(m manifest, inCRDDir bool) error {
	o := m.obj
	var problems []string
	if o.GetAPIVersion() == "" {
		problems = append(problems, "no apiVersion")
	}
	if o.GetKind() == "" {
		problems = append(problems, "no kind")
	}
	if o.GetName() == "" {
		problems = append(problems, "no metadata.name")
	}
	switch {
	case clusterScoped[o.GetKind()] && o.GetNamespace() != "":
		problems = append(problems, fmt.Sprintf("%s is cluster-scoped but names namespace %q", o.GetKind(), o.GetNamespace()))
	case !clusterScoped[o.GetKind()] && o.GetNamespace() != namespace:
		problems = append(problems, fmt.Sprintf("namespace %q, want %q", o.GetNamespace(), namespace))
	}
	if inCRDDir != m.isCRD() {
		if inCRDDir {
			problems = append(problems, fmt.Sprintf("%s/ holds CustomResourceDefinitions only", crdDir))
		} else {
			problems = append(problems, fmt.Sprintf("a CustomResourceDefinition belongs in %s/", crdDir))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s", m, strings.Join(problems, "; "))
	}
	return nil
}

// decodeManifests splits a file into YAML documents and decodes each into an object.
// Documents with no content (comments only) are skipped. Invalid YAML, duplicate keys and
// documents that are not objects are errors naming the file and the document.
func decodeManifests(file string, data []byte) ([]manifest, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []manifest
	for i := 1; ; i++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s document %d: %w", file, i, err)
		}
		js, err := yaml.YAMLToJSONStrict(raw)
		if err != nil {
			return nil, fmt.Errorf("%s document %d: not valid YAML: %w", file, i, err)
		}
		if t := bytes.TrimSpace(js); len(t) == 0 || string(t) == "null" {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("%s document %d: not a Kubernetes object: %w", file, i, err)
		}
		out = append(out, manifest{file: file, index: i, obj: obj})
	}
}

// splitCRDs separates the CustomResourceDefinitions, which must be established before
// objects of their kinds can be applied, from the rest; both keep their order.
func splitCRDs(ms []manifest) (crds, rest []manifest) {
	for _, m := range ms {
		if m.isCRD() {
			crds = append(crds, m)
		} else {
			rest = append(rest, m)
		}
	}
	return crds, rest
}

// imageOverrides replace images in the operator's Deployment before it is applied: the
// operator's own image, and the component images it is told through its RELATED_IMAGE_*
// variables (BACKEND, APICAST, SYSTEM, ZYNC, SYSTEM_MEMCACHED, ZYNC_POSTGRESQL, OC_CLI,
// SYSTEM_SEARCHD). This is how an install pins by digest what upstream publishes only under
// moving tags.
type imageOverrides struct {
	operator string
	// related maps a variable name without its prefix (SYSTEM) to an image reference.
	related map[string]string
}

// parseRelatedImages reads NAME=REF pairs; NAME may carry the RELATED_IMAGE_ prefix.
func parseRelatedImages(pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pairs {
		name, ref, ok := strings.Cut(p, "=")
		name = strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(name)), relatedImagePrefix)
		ref = strings.TrimSpace(ref)
		if !ok || name == "" || ref == "" {
			return nil, fmt.Errorf("--related-image %q: want NAME=IMAGE, e.g. SYSTEM=quay.io/3scale/porta@sha256:...", p)
		}
		if strings.ContainsAny(ref, " \t") {
			return nil, fmt.Errorf("--related-image %q: %q is not an image reference", p, ref)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--related-image %s is given twice", name)
		}
		out[name] = ref
	}
	return out, nil
}

func (o imageOverrides) empty() bool { return o.operator == "" && len(o.related) == 0 }

// apply changes the operator's Deployment among ms in place. A name that is not one of the
// Deployment's RELATED_IMAGE_* variables is an error that lists the valid ones.
func (o imageOverrides) apply(ms []manifest) error {
	if o.empty() {
		return nil
	}
	var dep *unstructured.Unstructured
	for _, m := range ms {
		if m.obj.GetKind() == "Deployment" && m.obj.GetName() == operatorDeployment {
			dep = m.obj
		}
	}
	if dep == nil {
		return fmt.Errorf("image overrides: no Deployment %s in the manifests", operatorDeployment)
	}
	containers, _, err := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if err != nil {
		return fmt.Errorf("image overrides: Deployment %s: %w", operatorDeployment, err)
	}
	idx := slices.IndexFunc(containers, func(c any) bool {
		m, _ := c.(map[string]any)
		return m["name"] == operatorContainer
	})
	if idx < 0 {
		return fmt.Errorf("image overrides: Deployment %s has no container %s", operatorDeployment, operatorContainer)
	}
	c := containers[idx].(map[string]any)
	if o.operator != "" {
		c["image"] = o.operator
	}
	env, _ := c["env"].([]any)
	var valid []string
	done := map[string]bool{}
	for _, e := range env {
		v, _ := e.(map[string]any)
		full, _ := v["name"].(string)
		name, ok := strings.CutPrefix(full, relatedImagePrefix)
		if !ok {
			continue
		}
		valid = append(valid, name)
		if ref, want := o.related[name]; want {
			v["value"] = ref
			done[name] = true
		}
	}
	var unknown []string
	for name := range o.related {
		if !done[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		sort.Strings(valid)
		return fmt.Errorf("--related-image %s: not a variable of the operator; valid names are %s", strings.Join(unknown, ", "), strings.Join(valid, ", "))
	}
	containers[idx] = c
	return unstructured.SetNestedSlice(dep.Object, containers, "spec", "template", "spec", "containers")
}

// nodePorts returns the node ports of the NodePort Services among ms, in order: what the
// kind configuration must publish for target.yaml to reach 3scale from the host.
func nodePorts(ms []manifest) []int32 {
	var out []int32
	for _, m := range ms {
		if m.obj.GetKind() != "Service" {
			continue
		}
		if t, _, _ := unstructured.NestedString(m.obj.Object, "spec", "type"); t != "NodePort" {
			continue
		}
		ports, _, _ := unstructured.NestedSlice(m.obj.Object, "spec", "ports")
		for _, p := range ports {
			pm, _ := p.(map[string]any)
			if n, ok := pm["nodePort"].(int64); ok {
				out = append(out, int32(n))
			}
		}
	}
	return out
}

// deploymentNames returns the names of the Deployments among ms, in order.
func deploymentNames(ms []manifest) []string {
	var out []string
	for _, m := range ms {
		if m.obj.GetKind() == "Deployment" {
			out = append(out, m.obj.GetName())
		}
	}
	return out
}

// jobNames returns the names of the Jobs among ms, in order.
func jobNames(ms []manifest) []string {
	var out []string
	for _, m := range ms {
		if m.obj.GetKind() == "Job" {
			out = append(out, m.obj.GetName())
		}
	}
	return out
}
