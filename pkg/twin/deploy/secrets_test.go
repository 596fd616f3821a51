package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/threescale-chaos/harness/pkg/twin/deploy"
)

// The first deploy on a data directory writes its credentials there (owner-only), and every
// later deploy gets the same ones back: porta seeds its database once, so a second deploy
// with new credentials could not sign in (operator@3scale-2.16.3-GA
// pkg/reconcilers/secret.go DefaultsOnlySecretMutator never replaces a Secret's value).
func TestCredentialsAreKeptWithTheData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := deploy.LoadOrCreateSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.AdminPassword == "" || first.AdminAccessToken == "" || first.MasterAccessToken == "" {
		t.Fatalf("generated credentials are empty: %+v", first)
	}
	fi, err := os.Stat(filepath.Join(dir, deploy.CredentialsFile))
	if err != nil {
		t.Fatalf("no credentials file after the first deploy: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("credentials file mode %o, want 600", perm)
	}
	// The data the first deploy seeds appears beside the file.
	if err := os.MkdirAll(filepath.Join(dir, "system-mysql", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	second, err := deploy.LoadOrCreateSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if second != first {
		t.Fatalf("second deploy got other credentials than the first")
	}
	v, err := deploy.NewValues("3scale", "/opt/twin/threescale-twin", dir)
	if err != nil {
		t.Fatal(err)
	}
	if v.Secrets != first {
		t.Fatalf("NewValues did not use the kept credentials")
	}
}

// Data without its credentials file is refused with a way out, never silently reseeded.
func TestDataWithoutCredentialsIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "system-mysql"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := deploy.LoadOrCreateSecrets(dir)
	if err == nil || !strings.Contains(err.Error(), "system-mysql") || !strings.Contains(err.Error(), "rm -rf "+dir) {
		t.Fatalf("want a refusal naming the data and how to start clean, got %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, deploy.CredentialsFile)); statErr == nil {
		t.Fatalf("a credentials file was written over unknown data")
	}
}

// A credentials file that lost a value is an error, not an empty password.
func TestIncompleteCredentialsFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, deploy.CredentialsFile), []byte(`{"adminPassword":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := deploy.LoadOrCreateSecrets(dir)
	if err == nil || !strings.Contains(err.Error(), "masterAccessToken") {
		t.Fatalf("want an error naming the missing keys, got %v", err)
	}
}
