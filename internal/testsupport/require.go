package testsupport

import (
	"os"
	"testing"
)

// RequireAllEnv names the environment variable that turns Require's skips into failures. The
// Makefile's unit target sets it, so that a CI machine missing redis-server, PostgreSQL, the
// kube binaries or root fails instead of passing with the tests that need them skipped.
const RequireAllEnv = "THREESCALE_CHAOS_REQUIRE_ALL"

// Require skips the test when ok is false (the environment lacks what, e.g. "redis-server at
// /usr/bin/redis-server"), and fails it instead when THREESCALE_CHAOS_REQUIRE_ALL=1.
func Require(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv(RequireAllEnv) == "1" {
		t.Fatalf("needs %s (%s=1: an environment skip is a failure)", what, RequireAllEnv)
		return
	}
	t.Skipf("needs %s", what)
}

// RequireFile is Require for a file the test runs or reads, such as a server binary.
func RequireFile(t testing.TB, path string) {
	t.Helper()
	_, err := os.Stat(path)
	Require(t, err == nil, path+" ("+errString(err)+")")
}

// RequireRoot is Require for tests that must run as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "root")
}

func errString(err error) string {
	if err == nil {
		return "present"
	}
	return err.Error()
}
