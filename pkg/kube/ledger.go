package kube

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

// Names the harness writes into the cluster.
const (
	// LedgerConfigMap is the ConfigMap, one per namespace, that holds the restore
	// ledger: one data key per run and component, "<run-id>.<component>", whose value
	// is a JSON LedgerEntry.
	LedgerConfigMap = "threescale-chaos-ledger"
	// AnnotationLedger on a workload names the run whose ledger entry covers it.
	AnnotationLedger = "chaos.3scale.net/ledger"
	// AnnotationOriginalReplicas on a workload is its replicas before the run changed it.
	AnnotationOriginalReplicas = "chaos.3scale.net/original-replicas"
	// LabelOptIn must be "true" on a namespace before the harness touches it.
	LabelOptIn = "chaos.3scale.net/opt-in"
	// LabelManagedBy marks what the harness created.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "threescale-chaos"
	// LedgerFormat is the version of the LedgerEntry encoding this package writes and
	// the only one it reads.
	LedgerFormat = 1
)

// Errors about the ledger.
var (
	// ErrLedgerOpen is wrapped when a run may not start because an entry is open.
	ErrLedgerOpen = errors.New("restore ledger has an open entry")
	// ErrCorruptLedger is wrapped when a ledger entry cannot be decoded or is
	// inconsistent; such an entry is never acted on.
	ErrCorruptLedger = errors.New("corrupt restore-ledger entry")
)

// EntryState says whether a ledger entry still has something to restore.
type EntryState string

// Entry states.
const (
	// StateOpen: the run may have changed the cluster and has not put it back.
	StateOpen EntryState = "open"
	// StateClosed: the original state was put back.
	StateClosed EntryState = "closed"
)

// LedgerEntry is the original state of one component, written into the cluster before
// anything is changed, so that a later process can put it back.
type LedgerEntry struct {
	// Format is LedgerFormat.
	Format    int    `json:"format"`
	RunID     string `json:"runID"`
	Component string `json:"component"`
	Namespace string `json:"namespace"`
	// Workload is the object that was scaled (or that the operator scaled).
	Workload WorkloadRef `json:"workload"`
	Method   Method      `json:"method"`
	// OriginalReplicas is the workload's spec.replicas before the run.
	OriginalReplicas int32 `json:"originalReplicas"`
	// APIManager is the component's replicas field as it was, nil when there is no
	// APIManager or the component has no field.
	APIManager *FieldRecord `json:"apiManager,omitempty"`
	// HPAs are the HPAs that targeted the workload, as they were. They are not changed.
	HPAs     []HPAInfo  `json:"hpas,omitempty"`
	State    EntryState `json:"state"`
	OpenedAt time.Time  `json:"openedAt"`
	ClosedAt *time.Time `json:"closedAt,omitempty"`
}

// WorkloadRef is a catalog.Workload as the ledger stores it.
type WorkloadRef struct {
	Kind       catalog.Kind `json:"kind"`
	APIVersion string       `json:"apiVersion"`
	Name       string       `json:"name"`
}

// RefOf returns the ledger form of a workload.
func RefOf(w catalog.Workload) WorkloadRef {
	return WorkloadRef{Kind: w.Kind, APIVersion: w.APIVersion, Name: w.Name}
}

// Workload returns the catalog form.
func (r WorkloadRef) Workload() catalog.Workload {
	return catalog.Workload{Kind: r.Kind, APIVersion: r.APIVersion, Name: r.Name}
}

// FieldRecord is an APIManager replicas field before the run.
type FieldRecord struct {
	// Name is the APIManager's name.
	Name string `json:"name"`
	// Field is the dotted path, e.g. spec.backend.listenerSpec.replicas.
	Field string `json:"field"`
	// Value is the original value, nil when the field was absent.
	Value *int64 `json:"value,omitempty"`
}

// Key is the entry's data key in the ledger ConfigMap.
func (e LedgerEntry) Key() string { return e.RunID + "." + e.Component }

// String names the entry for errors and logs.
func (e LedgerEntry) String() string {
	return fmt.Sprintf("run %s component %s (%s in %s, %s, opened %s)", e.RunID, e.Component, e.Workload.Workload(), e.Namespace, e.Method, e.OpenedAt.Format(time.RFC3339))
}

var runIDPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// ValidateRunID checks that a run id is usable as a label value and ConfigMap key part:
// lower-case letters, digits and dashes, at most 63 characters.
func ValidateRunID(id string) error {
	if !runIDPattern.MatchString(id) {
		return fmt.Errorf("run id %q: want lower-case letters, digits and '-', 1-63 characters, starting and ending with a letter or digit", id)
	}
	return nil
}

// NewRunID returns a run id made of the UTC time and 3 random bytes, e.g.
// 20260527-153012-a1b2c3.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// Validate checks that an entry is complete and consistent.
func (e LedgerEntry) Validate() error {
	var problems []string
	if e.Format != LedgerFormat {
		problems = append(problems, fmt.Sprintf("format %d, this harness reads format %d", e.Format, LedgerFormat))
	}
	if err := ValidateRunID(e.RunID); err != nil {
		problems = append(problems, err.Error())
	}
	if _, err := catalog.Lookup(e.Component); err != nil {
		problems = append(problems, fmt.Sprintf("component %q is not a 3scale component", e.Component))
	}
	if e.Namespace == "" {
		problems = append(problems, "namespace is empty")
	}
	switch {
	case e.Workload.Name == "":
		problems = append(problems, "workload name is empty")
	case e.Workload.Kind != catalog.KindDeployment && e.Workload.Kind != catalog.KindDeploymentConfig:
		problems = append(problems, fmt.Sprintf("workload kind %q, want Deployment or DeploymentConfig", e.Workload.Kind))
	case e.Workload.APIVersion != apiVersionOf(e.Workload.Kind):
		problems = append(problems, fmt.Sprintf("workload apiVersion %q does not go with kind %s", e.Workload.APIVersion, e.Workload.Kind))
	}
	if e.Method != MethodCRPatch && e.Method != MethodScaleSubresource {
		problems = append(problems, fmt.Sprintf("method %q, want %s or %s", e.Method, MethodCRPatch, MethodScaleSubresource))
	}
	if e.Method == MethodCRPatch && (e.APIManager == nil || e.APIManager.Value == nil) {
		problems = append(problems, "method cr-patch without the APIManager field's original value")
	}
	if e.APIManager != nil && (e.APIManager.Name == "" || e.APIManager.Field == "") {
		problems = append(problems, "APIManager record without a name or field")
	}
	if e.OriginalReplicas < 0 {
		problems = append(problems, fmt.Sprintf("originalReplicas %d is negative", e.OriginalReplicas))
	}
	if e.State != StateOpen && e.State != StateClosed {
		problems = append(problems, fmt.Sprintf("state %q, want open or closed", e.State))
	}
	if e.OpenedAt.IsZero() {
		problems = append(problems, "openedAt is missing")
	}
	if e.State == StateClosed && e.ClosedAt == nil {
		problems = append(problems, "closed without closedAt")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// EncodeEntry validates and encodes an entry.
func EncodeEntry(e LedgerEntry) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("encode ledger entry %s: %w", e.Key(), err)
	}
	return json.Marshal(e)
}

// DecodeEntry decodes the value stored under key in the ledger ConfigMap. An entry that
// is not valid JSON, has unknown fields, another format, missing values, or a key that
// does not match its contents gives an error wrapping ErrCorruptLedger.
func DecodeEntry(key string, data []byte) (LedgerEntry, error) {
	var e LedgerEntry
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("%w %q: %v", ErrCorruptLedger, key, err)
	}
	if dec.More() {
		return e, fmt.Errorf("%w %q: trailing data after the JSON object", ErrCorruptLedger, key)
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("%w %q: %v", ErrCorruptLedger, key, err)
	}
	if e.Key() != key {
		return e, fmt.Errorf("%w %q: its contents belong under key %q", ErrCorruptLedger, key, e.Key())
	}
	return e, nil
}

// putEntry writes (creates or replaces) one entry in the namespace's ledger ConfigMap.
func putEntry(ctx context.Context, c *Client, e LedgerEntry) error {
	data, err := EncodeEntry(e)
	if err != nil {
		return err
	}
	cms := c.Kube.CoreV1().ConfigMaps(e.Namespace)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := cms.Get(ctx, LedgerConfigMap, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cm = &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: LedgerConfigMap, Namespace: e.Namespace, Labels: map[string]string{LabelManagedBy: ManagedBy}},
				Data:       map[string]string{e.Key(): string(data)},
			}
			_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(corev1.Resource("configmaps"), LedgerConfigMap, err)
			}
			return err
		}
		if err != nil {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[e.Key()] = string(data)
		pruneClosed(cm.Data, KeepClosedEntries, e.Key())
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("write restore ledger %s/%s key %s: %w", e.Namespace, LedgerConfigMap, e.Key(), err)
	}
	return nil
}

// KeepClosedEntries is how many closed entries the ledger keeps, the most recently closed:
// they say which runs restored what, and nothing needs them after. Without a bound a
// long-lived cluster's ledger (about 400 bytes an entry, 15 a matrix run) would reach a
// ConfigMap's 1 MiB limit after some 170 matrix runs and refuse the next run's entry.
const KeepClosedEntries = 300

// pruneClosed deletes from a ledger's data all but the keep most recently closed entries,
// counting the entry being written (key), which stays whatever its clock said. Open entries
// are never deleted, nor entries that do not decode: both are for a person or a `restore` to
// act on.
func pruneClosed(data map[string]string, keep int, key string) {
	type closed struct {
		key string
		at  time.Time
	}
	var all []closed
	for k, v := range data {
		if k == key {
			keep--
			continue
		}
		e, err := DecodeEntry(k, []byte(v))
		if err != nil || e.State != StateClosed || e.ClosedAt == nil {
			continue
		}
		all = append(all, closed{k, *e.ClosedAt})
	}
	if len(all) <= max(keep, 0) {
		return
	}
	slices.SortFunc(all, func(a, b closed) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return strings.Compare(b.key, a.key)
	})
	for _, c := range all[max(keep, 0):] {
		delete(data, c.key)
	}
}

// ReadLedger returns every decodable entry of the namespace's ledger, sorted by key, and
// an error wrapping ErrCorruptLedger for each entry that is not.
func ReadLedger(ctx context.Context, c *Client, namespace string) ([]LedgerEntry, error) {
	cm, err := c.Kube.CoreV1().ConfigMaps(namespace).Get(ctx, LedgerConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read restore ledger %s/%s: %w", namespace, LedgerConfigMap, err)
	}
	keys := make([]string, 0, len(cm.Data))
	for k := range cm.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var entries []LedgerEntry
	var errs []error
	for _, k := range keys {
		e, err := DecodeEntry(k, []byte(cm.Data[k]))
		if err != nil {
			errs = append(errs, fmt.Errorf("ConfigMap %s/%s: %w", namespace, LedgerConfigMap, err))
			continue
		}
		if e.Namespace != namespace {
			errs = append(errs, fmt.Errorf("ConfigMap %s/%s: %w %q: it names namespace %s", namespace, LedgerConfigMap, ErrCorruptLedger, k, e.Namespace))
			continue
		}
		entries = append(entries, e)
	}
	return entries, errors.Join(errs...)
}

// OpenLedgerError lists the open entries that stop a run from starting.
type OpenLedgerError struct {
	Namespace string
	Entries   []LedgerEntry
}

// Error names every open run and component and says how to clear them.
func (e *OpenLedgerError) Error() string {
	var parts []string
	runs := map[string]bool{}
	for _, en := range e.Entries {
		parts = append(parts, en.String())
		runs[en.RunID] = true
	}
	hint := "run `threescale-chaos restore` (or start with --restore-first)"
	if len(runs) == 1 {
		hint = fmt.Sprintf("run `threescale-chaos restore --run-id %s` (or start with --restore-first)", e.Entries[0].RunID)
	}
	return fmt.Sprintf("namespace %s: %s: %s; an earlier run did not put the cluster back: %s",
		e.Namespace, ErrLedgerOpen, strings.Join(parts, "; "), hint)
}

// Unwrap makes errors.Is(err, ErrLedgerOpen) true.
func (e *OpenLedgerError) Unwrap() error { return ErrLedgerOpen }

// CheckOpenLedger refuses (with an *OpenLedgerError) to start a run while the namespace's
// ledger has an open entry, and refuses when an entry cannot be read, since it might be
// open.
func CheckOpenLedger(ctx context.Context, c *Client, namespace string) error {
	entries, err := ReadLedger(ctx, c, namespace)
	if err != nil {
		return fmt.Errorf("check restore ledger before a run: %w", err)
	}
	var open []LedgerEntry
	for _, e := range entries {
		if e.State == StateOpen {
			open = append(open, e)
		}
	}
	if len(open) > 0 {
		return &OpenLedgerError{Namespace: namespace, Entries: open}
	}
	return nil
}

// apiVersionOf is the API version that serves a workload kind.
func apiVersionOf(k catalog.Kind) string {
	if k == catalog.KindDeploymentConfig {
		return DeploymentConfigsGVR.GroupVersion().String()
	}
	return DeploymentsGVR.GroupVersion().String()
}
