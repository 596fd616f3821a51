package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/threescale-chaos/harness/pkg/kube"
)

// Diagnose writes the namespace's events and pod states into dir/<name>-*.json, before
// cleanup removes the evidence, and returns the files written (relative to dir).
func Diagnose(ctx context.Context, c *kube.Client, namespace, dir, name string) ([]string, error) {
	cs := c.Kube
	var files []string
	write := func(suffix string, v any) error {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		rel := fmt.Sprintf("%s-%s.json", name, suffix)
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o644); err != nil {
			return err
		}
		files = append(files, rel)
		return nil
	}
	events, err := cs.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return files, fmt.Errorf("events: %w", err)
	}
	sort.Slice(events.Items, func(i, j int) bool {
		return events.Items[i].LastTimestamp.Before(&events.Items[j].LastTimestamp)
	})
	if err := write("events", events.Items); err != nil {
		return files, err
	}
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return files, fmt.Errorf("pods: %w", err)
	}
	type podState struct {
		Name, Phase string
		Ready       bool
		Containers  any
		Init        any `json:",omitempty"`
	}
	var states []podState
	for _, p := range pods.Items {
		ready := false
		for _, cond := range p.Status.Conditions {
			if cond.Type == "Ready" {
				ready = cond.Status == "True"
			}
		}
		states = append(states, podState{Name: p.Name, Phase: string(p.Status.Phase), Ready: ready, Containers: p.Status.ContainerStatuses, Init: p.Status.InitContainerStatuses})
	}
	return files, write("pods", states)
}
