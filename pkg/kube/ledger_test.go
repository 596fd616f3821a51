package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

func sampleEntry() LedgerEntry {
	return LedgerEntry{
		Format: LedgerFormat, RunID: "20260527-153012-a1b2c3", Component: "backend-listener", Namespace: "threescale",
		Workload: WorkloadRef{Kind: catalog.KindDeployment, APIVersion: "apps/v1", Name: "backend-listener"},
		Method:   MethodCRPatch, OriginalReplicas: 2,
		APIManager: &FieldRecord{Name: "apimanager", Field: "spec.backend.listenerSpec.replicas", Value: ptrTo(int64(2))},
		HPAs:       []HPAInfo{{Name: "backend-listener", MinReplicas: ptrTo(int32(1)), MaxReplicas: 5}},
		State:      StateOpen,
		OpenedAt:   time.Date(2026, 5, 27, 15, 30, 12, 0, time.UTC),
	}
}

func TestLedgerEntryRoundTrip(t *testing.T) {
	e := sampleEntry()
	data, err := EncodeEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"format":1`, `"runID":"20260527-153012-a1b2c3"`, `"method":"cr-patch"`, `"kind":"Deployment"`, `"value":2`, `"state":"open"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("encoding %s lacks %s", data, want)
		}
	}
	got, err := DecodeEntry(e.Key(), data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key() != e.Key() || *got.APIManager.Value != 2 || got.HPAs[0].MaxReplicas != 5 || !got.OpenedAt.Equal(e.OpenedAt) || got.Workload.Workload() != (catalog.Workload{Kind: catalog.KindDeployment, APIVersion: "apps/v1", Name: "backend-listener"}) {
		t.Errorf("round trip changed the entry: %+v", got)
	}

	// Absent original field (scale-subresource on an APIManager without the field).
	e.Method, e.APIManager.Value = MethodScaleSubresource, nil
	now := e.OpenedAt.Add(time.Minute)
	e.State, e.ClosedAt = StateClosed, &now
	data, err = EncodeEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"value"`) {
		t.Errorf("absent field encoded as a value: %s", data)
	}
	if got, err := DecodeEntry(e.Key(), data); err != nil || got.APIManager.Value != nil || got.ClosedAt == nil {
		t.Errorf("decode absent field: %+v, %v", got, err)
	}
}

func TestDecodeRejectsCorruptEntries(t *testing.T) {
	good, err := EncodeEntry(sampleEntry())
	if err != nil {
		t.Fatal(err)
	}
	key := sampleEntry().Key()
	replace := func(old, new string) string { return strings.Replace(string(good), old, new, 1) }
	tests := []struct {
		name, key, data, want string
	}{
		{"not JSON", key, "{not json", "invalid character"},
		{"truncated", key, string(good[:len(good)/2]), "unexpected EOF"},
		{"trailing data", key, string(good) + "{}", "trailing data"},
		{"unknown field", key, replace(`"format":1`, `"format":1,"extra":true`), `unknown field "extra"`},
		{"newer format", key, replace(`"format":1`, `"format":2`), "format 2, this harness reads format 1"},
		{"bad run id", "BAD.backend-listener", replace(`"runID":"20260527-153012-a1b2c3"`, `"runID":"BAD"`), `run id "BAD"`},
		{"unknown component", key, replace(`"component":"backend-listener"`, `"component":"nginx"`), `component "nginx"`},
		{"bad method", key, replace(`"method":"cr-patch"`, `"method":"delete"`), `method "delete"`},
		{"cr-patch without value", key, replace(`,"value":2`, ``), "without the APIManager field's original value"},
		{"bad state", key, replace(`"state":"open"`, `"state":"ajar"`), `state "ajar"`},
		{"kind and apiVersion disagree", key, replace(`"apiVersion":"apps/v1"`, `"apiVersion":"apps.openshift.io/v1"`), "does not go with kind Deployment"},
		{"negative replicas", key, replace(`"originalReplicas":2`, `"originalReplicas":-1`), "negative"},
		{"key does not match", "other-run.backend-listener", string(good), `belong under key "20260527-153012-a1b2c3.backend-listener"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEntry(tt.key, []byte(tt.data))
			if !errors.Is(err, ErrCorruptLedger) {
				t.Fatalf("error %v, want ErrCorruptLedger", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q does not name the key %q and say %q", err, tt.key, tt.want)
			}
		})
	}
}

func TestEncodeRefusesAnIncompleteEntry(t *testing.T) {
	e := sampleEntry()
	e.OpenedAt = time.Time{}
	if _, err := EncodeEntry(e); err == nil || !strings.Contains(err.Error(), "openedAt is missing") {
		t.Errorf("EncodeEntry without openedAt: %v", err)
	}
}

func TestRunIDs(t *testing.T) {
	id := NewRunID(time.Date(2026, 5, 27, 15, 30, 12, 0, time.UTC))
	if err := ValidateRunID(id); err != nil || !strings.HasPrefix(id, "20260527-153012-") {
		t.Errorf("NewRunID = %q (%v)", id, err)
	}
	for _, bad := range []string{"", "-a", "a-", "A", "a.b", "a_b", strings.Repeat("a", 64)} {
		if ValidateRunID(bad) == nil {
			t.Errorf("ValidateRunID(%q) accepted", bad)
		}
	}
}

func TestOpenLedgerErrorNamesRunAndComponent(t *testing.T) {
	err := error(&OpenLedgerError{Namespace: "threescale", Entries: []LedgerEntry{sampleEntry()}})
	if !errors.Is(err, ErrLedgerOpen) {
		t.Fatal("OpenLedgerError does not wrap ErrLedgerOpen")
	}
	for _, want := range []string{"threescale", "20260527-153012-a1b2c3", "backend-listener", "Deployment/backend-listener", "--run-id 20260527-153012-a1b2c3", "--restore-first"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

// Writing an entry keeps the KeepClosedEntries most recently closed ones and drops the older,
// never an open entry or one that does not decode, and never the entry being written.
func TestPutEntryPrunesOldClosedEntries(t *testing.T) {
	base := time.Date(2026, 5, 27, 0, 0, 0, 0, time.UTC)
	data := map[string]string{}
	closedAt := map[string]time.Time{}
	extra := 5
	for i := range KeepClosedEntries + extra {
		e := sampleEntry()
		e.RunID = fmt.Sprintf("20260527-000000-%06d", i)
		at := base.Add(time.Duration(i) * time.Minute)
		e.State, e.ClosedAt = StateClosed, &at
		b, err := EncodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		data[e.Key()] = string(b)
		closedAt[e.Key()] = at
	}
	open := sampleEntry()
	open.RunID = "20250101-000000-oldest"
	ob, _ := EncodeEntry(open)
	data[open.Key()] = string(ob)
	data["garbage.backend-listener"] = "{not json"

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: LedgerConfigMap, Namespace: "threescale"}, Data: data}
	c := &Client{Kube: fake.NewClientset(cm)}
	now := base.Add(-time.Hour) // closed before every other: still kept, it is the one written
	written := sampleEntry()
	written.RunID = "20260526-000000-newrun"
	written.State, written.ClosedAt = StateClosed, &now
	if err := putEntry(context.Background(), c, written); err != nil {
		t.Fatal(err)
	}
	got, err := c.Kube.CoreV1().ConfigMaps("threescale").Get(context.Background(), LedgerConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Data[written.Key()]; !ok {
		t.Errorf("the entry written was pruned")
	}
	if _, ok := got.Data[open.Key()]; !ok {
		t.Errorf("an open entry was pruned")
	}
	if _, ok := got.Data["garbage.backend-listener"]; !ok {
		t.Errorf("an entry that does not decode was pruned")
	}
	closed := 0
	for k := range got.Data {
		if _, ok := closedAt[k]; ok {
			closed++
		}
	}
	// The written entry counts among the kept: one more of the old ones goes.
	if want := KeepClosedEntries - 1; closed != want {
		t.Errorf("%d older closed entries kept, want %d", closed, want)
	}
	for k, at := range closedAt {
		_, kept := got.Data[k]
		if old := at.Before(base.Add(time.Duration(extra+1) * time.Minute)); old == kept {
			t.Errorf("entry %s closed at %s: kept %v", k, at.Format(time.TimeOnly), kept)
		}
	}
}
