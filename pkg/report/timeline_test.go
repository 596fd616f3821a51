package report

import "testing"

// TestPlaceLabels: labels at one instant, or closer than their width, take
// separate lanes; labels far apart share one; a label that would pass the
// right edge ends at its instant instead.
func TestPlaceLabels(t *testing.T) {
	xs := []float64{230, 234, 235, 600, 1128, 1128}
	labels := []string{"steady", "inject", "fault-held", "restore", "recovered", "verify-work"}
	placed, lanes := placeLabels(xs, labels, 1130)
	if lanes != 3 {
		t.Errorf("%d lanes, want 3 (steady, inject and fault-held within a few units)", lanes)
	}
	type span struct{ x0, x1 float64 }
	byLane := map[int][]span{}
	for i, p := range placed {
		w := labelWidth(labels[i])
		s := span{p.textX, p.textX + w}
		if p.anchor == "end" {
			s = span{p.textX - w, p.textX}
		}
		if s.x1 > 1130 {
			t.Errorf("%s ends at %.0f, past the plot's edge", labels[i], s.x1)
		}
		for _, o := range byLane[p.lane] {
			if s.x0 < o.x1+labelGap && o.x0 < s.x1+labelGap {
				t.Errorf("%s at %.0f-%.0f is within %v of a label in lane %d at %.0f-%.0f", labels[i], s.x0, s.x1, labelGap, p.lane, o.x0, o.x1)
			}
		}
		byLane[p.lane] = append(byLane[p.lane], s)
	}
	if placed[3].lane != 0 {
		t.Errorf("restore is in lane %d; nothing is near it, so lane 0", placed[3].lane)
	}
	if placed[4].anchor != "end" || placed[5].anchor != "end" {
		t.Errorf("labels at the right edge are anchored %s and %s, want end", placed[4].anchor, placed[5].anchor)
	}
}
