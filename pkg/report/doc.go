// Package report writes what a run found: a versioned JSON journal (the record a
// machine reads back), one self-contained HTML page (the record a human reads),
// JUnit properties for the suite to attach per matrix cell, and the process
// exit code.
//
// The journal holds, per scenario, the component and how it was scaled
// (cr-patch or scale-subresource), the phase marks, every sample in a compact
// columnar encoding, the per-cell verdicts with time to fail and time to
// recover, the deferred-work checks, background-load counts and the doc gaps
// of the scenario file, and over all scenarios one overall verdict with its
// reason. Verdicts are computed by pkg/scenario; this package only records
// and renders them.
//
// Access tokens must never reach a report. Target endpoints go through
// RedactURL, and every string of the journal passes through the secrets given
// to Journal.AddSecrets before anything is encoded or rendered.
package report
