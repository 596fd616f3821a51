package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/threescale-chaos/harness/fixtures"
)

// Render renders every template in fixtures/twin, in file-name order, into objects.
func Render(v Values) ([]*unstructured.Unstructured, error) {
	return RenderFS(fixtures.Twin, "twin", v)
}

// RenderFS renders the *.yaml.tmpl files of dir in fsys.
func RenderFS(fsys fs.FS, dir string, v Values) ([]*unstructured.Unstructured, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml.tmpl") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var objs []*unstructured.Unstructured
	for _, name := range names {
		src, err := fs.ReadFile(fsys, dir+"/"+name)
		if err != nil {
			return nil, err
		}
		tmpl, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{
			"dict": dict, "list": func(xs ...any) []any { return xs }, "metering": meteringLabels, "owner": ownerReferences,
		}).Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		var out bytes.Buffer
		if err := tmpl.Execute(&out, v); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		docs, err := decode(out.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		objs = append(objs, docs...)
	}
	return objs, nil
}

func decode(b []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("object without kind or apiVersion: %v", m)
		}
		objs = append(objs, u)
	}
}

// ThreescaleRelease is the 3scale release the twin models, as the operator of that release
// writes it (operator@3scale-2.16.3-GA version/version.go threescaleRelease).
const (
	ThreescaleRelease = "2.16.3"
	// ThreescaleMajorMinor is ThreescaleVersionMajorMinor() of the same file: the rht.comp_ver
	// label.
	ThreescaleMajorMinor = "2.16"
)

// meteringLabels are the labels the operator adds to the pod template of each Deployment it
// creates (operator@3scale-2.16.3-GA pkg/helper/labels.go MeteringLabels, called with
// ApplicationType from every *_options_provider.go podTemplateLabels), as entries of a YAML
// flow map. rht.prod_ver is "master" at that tag ("It should be updated on release branch").
func meteringLabels(subcomponent string) string {
	return fmt.Sprintf(`com.company: Red_Hat, rht.prod_name: Red_Hat_Integration, rht.prod_ver: master, rht.comp: "3scale", rht.comp_ver: %q, rht.subcomp: %s, rht.subcomp_t: application`,
		ThreescaleMajorMinor, subcomponent)
}

// ownerReferences is the metadata line that makes an object the APIManager's, as the
// operator's controllerutil.SetControllerReference does for every object it creates except
// Secrets (research/real-operator-check.md §2.2), or nothing before the APIManager exists
// (Up applies it first to learn its uid).
func ownerReferences(v Values) string {
	if v.OwnerUID == "" {
		return ""
	}
	return fmt.Sprintf(`ownerReferences: [{apiVersion: apps.3scale.net/v1alpha1, kind: APIManager, name: %q, uid: %q, controller: true, blockOwnerDeletion: true}]`,
		APIManagerName, v.OwnerUID)
}

// dict builds a map for template calls: dict "k1" v1 "k2" v2.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("dict: odd number of arguments")
	}
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}
