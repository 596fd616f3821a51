// Package testsupport holds the helpers the project's tests share, so that each lives once
// (STYLE.md point 14): polling until a condition holds with the last observed state in the
// failure, free loopback ports, child-process launchers for the stores (redis-server and any
// server a test describes by its command line and readiness check), the silent go-redis logger,
// and Require, the environment skip that fails in CI.
//
// Before it existed the same helpers were copied into a dozen packages' helpers_test.go, in five
// signatures; the copies drifted (poll intervals, what a failure said, whether a missing binary
// skipped). It is internal: only this module's tests import it, and no production code does.
package testsupport
