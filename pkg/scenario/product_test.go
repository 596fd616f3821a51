package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func variantFile(product string) string {
	return validFile(nil) + "product:\n" + product
}

func TestParseVariant(t *testing.T) {
	s, err := Parse("scenarios/zync-caching-allow.yaml", []byte(variantFile("  policies:\n    - {name: caching, configuration: {caching_type: allow}}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Variant() || s.Name != "zync-caching-allow" || s.Component.Name != "zync" || s.Multi() {
		t.Fatalf("variant %v, name %q, component %q, multi %v; want a variant named by its file, of zync", s.Variant(), s.Name, s.Component.Name, s.Multi())
	}
	if got := s.Product.String(); got != "caching{caching_type: allow}, then the APIcast policy" {
		t.Errorf("product %q", got)
	}
	plain, err := Parse("scenarios/zync.yaml", []byte(validFile(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if plain.Variant() || plain.Product.String() != "APIcast's default chain" {
		t.Errorf("a file without product: is a variant (%v) or runs %q", plain.Variant(), plain.Product)
	}
}

func TestParseRejectsBadProducts(t *testing.T) {
	tests := []struct{ name, product, want string }{
		{"unknown policy", "  policies:\n    - {name: headers, configuration: {}}\n",
			`f.yaml: product.policies[0].name: "headers" is not a policy the harness can set and undo; known: caching`},
		{"unknown mode", "  policies:\n    - {name: caching, configuration: {caching_type: lenient}}\n",
			`f.yaml: product.policies[0].configuration.caching_type: "lenient" is not one of strict, resilient, allow, none`},
		{"unknown setting", "  policies:\n    - {name: caching, configuration: {caching_type: allow, ttl: \"5\"}}\n",
			"f.yaml: product.policies[0].configuration.ttl: unknown field; allowed fields here are caching_type"},
		{"mode missing", "  policies:\n    - {name: caching, configuration: {}}\n",
			"f.yaml: product.policies[0].configuration.caching_type: is required"},
		{"configuration missing", "  policies:\n    - {name: caching}\n",
			"f.yaml: product.policies[0].configuration: is required"},
		{"twice", "  policies:\n    - {name: caching, configuration: {caching_type: allow}}\n    - {name: caching, configuration: {caching_type: strict}}\n",
			"f.yaml: product.policies[1].name: caching is already product.policies[0]"},
		{"empty list", "  policies: []\n", "f.yaml: product.policies: must be a non-empty list"},
		{"no policies", "  chain: []\n", "f.yaml: product.chain: unknown field; allowed fields here are policies"},
		{"mode not a string", "  policies:\n    - {name: caching, configuration: {caching_type: 1}}\n",
			"f.yaml: product.policies[0].configuration.caching_type: must be a string, got 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantParseErrors(t, variantFile(tt.product), []string{tt.want}) })
	}
	t.Run("several components", func(t *testing.T) {
		wantParseErrors(t, multiFile("[zync, zync-que]")+"product:\n  policies:\n    - {name: caching, configuration: {caching_type: allow}}\n",
			[]string{"f.yaml: product: a file of several components runs the product as the harness makes it"})
	})
}

// A variant is its own scenario beside its component's file: LoadDir keys it by its file name.
func TestLoadDirKeepsAVariantBesideItsComponent(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"zync.yaml":                validFile(nil),
		"zync-caching-allow.yaml":  variantFile("  policies:\n    - {name: caching, configuration: {caching_type: allow}}\n"),
		"zync-caching-strict.yaml": variantFile("  policies:\n    - {name: caching, configuration: {caching_type: strict}}\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scs, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sc := range scs {
		names = append(names, sc.Name)
	}
	if got := strings.Join(names, " "); got != "zync-caching-allow zync-caching-strict zync" {
		t.Fatalf("names %q", got)
	}
}
