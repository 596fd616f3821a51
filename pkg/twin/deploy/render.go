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
		tmpl, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{"dict": dict}).Parse(string(src))
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
