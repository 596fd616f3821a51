package scenario

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// ok and bad build samples of capability Search at t0+d.
func ok(d time.Duration) Sample {
	return Sample{Capability: Search, Time: at(d), OK: true, Status: 200, Latency: 10 * time.Millisecond}
}

func bad(d time.Duration) Sample {
	return Sample{Capability: Search, Time: at(d), Status: 500, ErrorClass: Err5xx, Latency: 5 * time.Millisecond}
}

func slow(d, latency time.Duration) Sample {
	s := ok(d)
	s.Latency = latency
	return s
}

const sec = time.Second

func TestEvaluate(t *testing.T) {
	window := Window{Start: t0, End: at(30 * sec)}
	lost := Expectation{Capability: Search, Expect: Lost}
	kept := Expectation{Capability: Search, Expect: Kept}

	tests := []struct {
		name        string
		exp         Expectation
		window      Window
		samples     []Sample
		want        Verdict
		wantReason  string
		wantTTF     time.Duration // checked when wantFailed
		wantFailed  bool
		wantJudged  int
		wantInGrace int
	}{
		{
			name: "lost: every sample fails", exp: lost,
			samples: []Sample{bad(0), bad(10 * sec), bad(20 * sec)},
			want:    Pass, wantFailed: true, wantTTF: 0, wantJudged: 3,
		},
		{
			name: "lost: keeps working fails like a broken kept cell", exp: lost,
			samples: []Sample{ok(0), ok(10 * sec), ok(20 * sec)},
			want:    Fail, wantReason: "expected lost, but 3 of 3 judged samples succeeded; first at T0+0s: ok status 200",
			wantJudged: 3,
		},
		{
			// A sample that started in the window but finished after restore began saw
			// the component come back: it is not judged.
			name: "lost: a success that straddles the restore is not judged", exp: lost,
			samples: []Sample{bad(0), bad(10 * sec), bad(20 * sec), slow(29*sec, 2*sec)},
			want:    Pass, wantFailed: true, wantTTF: 0, wantJudged: 3,
		},
		{
			name: "lost: one success after the failures starts fails", exp: lost,
			samples: []Sample{bad(sec), bad(10 * sec), ok(20 * sec), bad(25 * sec)},
			want:    Fail, wantReason: "1 of 4 judged samples succeeded; first at T0+20s", wantFailed: true, wantTTF: sec, wantJudged: 4,
		},
		{
			name:    "lost: success inside the onset grace is not judged",
			exp:     Expectation{Capability: Search, Expect: Lost, OnsetGrace: 10 * sec},
			samples: []Sample{ok(0), ok(9*sec + 999*time.Millisecond), bad(10 * sec), bad(15 * sec), bad(20 * sec)},
			want:    Pass, wantFailed: true, wantTTF: 10 * sec, wantJudged: 3, wantInGrace: 2,
		},
		{
			name:    "lost: a sample exactly at T0+grace is judged",
			exp:     Expectation{Capability: Search, Expect: Lost, OnsetGrace: 10 * sec},
			samples: []Sample{ok(10 * sec), bad(15 * sec), bad(20 * sec), bad(25 * sec)},
			want:    Fail, wantReason: "first at T0+10s", wantFailed: true, wantTTF: 15 * sec, wantJudged: 4,
		},
		{
			name:    "lost: onset passes forgive that many successes",
			exp:     Expectation{Capability: Search, Expect: Lost, OnsetPasses: 2},
			samples: []Sample{ok(sec), bad(2 * sec), ok(3 * sec), bad(4 * sec), bad(5 * sec)},
			want:    Pass, wantReason: "(2 successful samples tolerated by onsetPasses)", wantFailed: true, wantTTF: 2 * sec, wantJudged: 5,
		},
		{
			name:    "lost: one pass more than onsetPasses fails",
			exp:     Expectation{Capability: Search, Expect: Lost, OnsetPasses: 1},
			samples: []Sample{ok(sec), ok(2 * sec), bad(3 * sec), bad(4 * sec)},
			want:    Fail, wantReason: "1 of 4 judged samples succeeded (1 successful samples tolerated by onsetPasses); first at T0+2s", wantFailed: true, wantTTF: 3 * sec, wantJudged: 4,
		},
		{
			name:    "lost: grace and passes together",
			exp:     Expectation{Capability: Search, Expect: Lost, OnsetGrace: 5 * sec, OnsetPasses: 1},
			samples: []Sample{ok(sec), ok(4 * sec), ok(6 * sec), bad(7 * sec), bad(8 * sec), bad(9 * sec)},
			want:    Pass, wantFailed: true, wantTTF: 7 * sec, wantJudged: 4, wantInGrace: 2,
		},
		{
			name: "lost: no samples is INVALID", exp: lost,
			want: Invalid, wantReason: "only 0 samples after the onset grace of 0s (0 in the window), 3 needed",
		},
		{
			name:    "lost: too few samples after the grace is INVALID",
			exp:     Expectation{Capability: Search, Expect: Lost, OnsetGrace: 20 * sec},
			samples: []Sample{bad(0), bad(10 * sec), bad(19 * sec), bad(25 * sec)},
			want:    Invalid, wantReason: "only 1 samples after the onset grace of 20s (4 in the window), 3 needed", wantFailed: true, wantJudged: 1, wantInGrace: 3,
		},
		{
			name:    "lost: MinSamples is honoured",
			exp:     Expectation{Capability: Search, Expect: Lost, MinSamples: 1},
			samples: []Sample{bad(5 * sec)},
			want:    Pass, wantFailed: true, wantTTF: 5 * sec, wantJudged: 1,
		},
		{
			name: "samples outside the window and of other capabilities are ignored", exp: lost,
			samples: []Sample{
				ok(-time.Second), ok(30 * sec), ok(40 * sec), // before T0, at T1 (excluded), after T1
				{Capability: AdminAPIRead, Time: at(5 * sec), OK: true},
				bad(20 * sec), bad(5 * sec), bad(10 * sec), // out of order on purpose
			},
			want: Pass, wantFailed: true, wantTTF: 5 * sec, wantJudged: 3,
		},
		{
			name: "kept: every sample succeeds", exp: kept,
			samples: []Sample{ok(0), ok(10 * sec), ok(29 * sec)},
			want:    Pass, wantJudged: 3,
		},
		{
			name: "kept: one failure fails the cell", exp: kept,
			samples: []Sample{ok(0), bad(10 * sec), ok(20 * sec)},
			want:    Fail, wantReason: "expected kept, but 1 of 3 samples failed; first at T0+10s: failed (5xx) status 500", wantFailed: true, wantTTF: 10 * sec, wantJudged: 3,
		},
		{
			name: "kept: too few samples is INVALID", exp: kept,
			samples: []Sample{ok(0), ok(10 * sec)},
			want:    Invalid, wantReason: "only 2 samples during the outage, 3 needed to judge a kept capability", wantJudged: 2,
		},
		{
			name:    "degraded: slow but working passes without a bound",
			exp:     Expectation{Capability: Search, Expect: Degraded},
			samples: []Sample{slow(0, 2*sec), slow(10*sec, 3*sec), ok(20 * sec)},
			want:    Pass, wantReason: "degraded as expected: all 3 samples succeeded (median latency 2s, max 3s)", wantJudged: 3,
		},
		{
			name:    "degraded: slower than maxLatency fails",
			exp:     Expectation{Capability: Search, Expect: Degraded, MaxLatency: time.Second},
			samples: []Sample{ok(0), slow(10*sec, 3*sec), ok(20 * sec)},
			want:    Fail, wantReason: "expected degraded within 1s, but 1 of 3 samples were slower (max 3s); first at T0+10s took 3s", wantJudged: 3,
		},
		{
			name:    "degraded: a failure fails",
			exp:     Expectation{Capability: Search, Expect: Degraded},
			samples: []Sample{ok(0), bad(10 * sec), ok(20 * sec)},
			want:    Fail, wantReason: "expected degraded, but 1 of 3", wantFailed: true, wantTTF: 10 * sec, wantJudged: 3,
		},
		{
			name:    "deferred: outage samples are not judged",
			exp:     Expectation{Capability: Search, Expect: Deferred},
			samples: []Sample{bad(0), bad(10 * sec)},
			want:    Pass, wantReason: "deferred: 0 of 2 samples during the outage succeeded", wantFailed: true, wantTTF: 0,
		},
		{
			name:    "unasserted: never judged, reason kept as a note",
			exp:     Expectation{Capability: Search, Expect: Unasserted, Reason: "no traffic"},
			samples: []Sample{ok(0), bad(10 * sec)},
			want:    Pass, wantReason: "unasserted (no traffic): 1 of 2 samples", wantFailed: true, wantTTF: 10 * sec,
		},
		{
			name: "unasserted: even without samples",
			exp:  Expectation{Capability: Search, Expect: Unasserted, Reason: "no traffic"},
			want: Pass,
		},
		{
			name: "unset window is INVALID", exp: kept, window: Window{End: at(30 * sec)},
			samples: []Sample{ok(0), ok(sec), ok(2 * sec)},
			want:    Invalid, wantReason: "window is not set",
		},
		{
			name: "window ending before it starts is INVALID", exp: kept, window: Window{Start: at(30 * sec), End: t0},
			want: Invalid, wantReason: "ends",
		},
		{
			name: "unknown expectation is INVALID", exp: Expectation{Capability: Search, Expect: "lsot"},
			samples: []Sample{ok(0)},
			want:    Invalid, wantReason: `unknown expectation "lsot"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := window
			if !tt.window.Start.IsZero() || !tt.window.End.IsZero() {
				w = tt.window
			}
			got := Evaluate(tt.exp, w, tt.samples)
			if got.Verdict != tt.want {
				t.Fatalf("verdict = %s (%s), want %s", got.Verdict, got.Reason, tt.want)
			}
			if !strings.Contains(got.Reason, tt.wantReason) {
				t.Errorf("reason = %q, want it to contain %q", got.Reason, tt.wantReason)
			}
			if got.HasFailed() != tt.wantFailed {
				t.Errorf("HasFailed = %v, want %v", got.HasFailed(), tt.wantFailed)
			}
			if tt.wantFailed && got.TimeToFail != tt.wantTTF {
				t.Errorf("TimeToFail = %s, want %s", got.TimeToFail, tt.wantTTF)
			}
			if got.Counts.Judged != tt.wantJudged || got.Counts.InGrace != tt.wantInGrace {
				t.Errorf("judged/in grace = %d/%d, want %d/%d", got.Counts.Judged, got.Counts.InGrace, tt.wantJudged, tt.wantInGrace)
			}
			if got.Verdict == Fail && got.Offending == nil && tt.exp.Expect != Degraded {
				t.Error("a FAIL must point at the offending sample")
			}
			if got.Capability != tt.exp.Capability || got.Expect != tt.exp.Expect {
				t.Errorf("verdict names %s/%s", got.Capability, got.Expect)
			}
		})
	}
}

func TestEvaluateRecovery(t *testing.T) {
	restore := at(60 * sec)
	r := func(d time.Duration) time.Duration { return 60*sec + d }
	tests := []struct {
		name          string
		budget        time.Duration
		samples       []Sample
		want          Verdict
		wantReason    string
		wantRecovered bool
		wantTTR       time.Duration
	}{
		{
			name: "recovers within budget", budget: 30 * sec,
			samples: []Sample{bad(r(-5 * sec)), bad(r(0)), bad(r(5 * sec)), ok(r(10 * sec)), ok(r(15 * sec))},
			want:    Pass, wantReason: "recovered after 10s (budget 30s)", wantRecovered: true, wantTTR: 10 * sec,
		},
		{
			name: "healthy from the first sample after restore", budget: 30 * sec,
			samples: []Sample{ok(r(2 * sec)), ok(r(4 * sec))},
			want:    Pass, wantRecovered: true, wantTTR: 2 * sec,
		},
		{
			name: "exactly at the budget passes", budget: 10 * sec,
			samples: []Sample{bad(r(5 * sec)), ok(r(10 * sec))},
			want:    Pass, wantRecovered: true, wantTTR: 10 * sec,
		},
		{
			name: "recovers after the budget fails", budget: 10 * sec,
			samples: []Sample{bad(r(5 * sec)), bad(r(10 * sec)), ok(r(11 * sec)), ok(r(15 * sec))},
			want:    Fail, wantReason: "recovered after 11s, over the 10s budget", wantRecovered: true, wantTTR: 11 * sec,
		},
		{
			name: "a relapse moves the recovery point", budget: 20 * sec,
			samples: []Sample{ok(r(sec)), bad(r(25 * sec)), ok(r(30 * sec))},
			want:    Fail, wantReason: "recovered after 30s", wantRecovered: true, wantTTR: 30 * sec,
		},
		{
			name: "never recovers", budget: 30 * sec,
			samples: []Sample{bad(r(5 * sec)), ok(r(10 * sec)), bad(r(20 * sec))},
			want:    Fail, wantReason: "not recovered within the 30s budget: the last sample, at restore+20s, failed (5xx) status 500",
		},
		{
			name: "no samples after restore", budget: 30 * sec,
			samples: []Sample{ok(r(-time.Second))},
			want:    Invalid, wantReason: "no samples after restore",
		},
		{
			name: "no budget", budget: 0,
			samples: []Sample{ok(r(sec))},
			want:    Invalid, wantReason: "no recovery budget",
		},
		{
			name: "mixed capabilities", budget: 30 * sec,
			samples: []Sample{ok(r(sec)), {Capability: Alerts, Time: at(r(2 * sec)), OK: true}},
			want:    Invalid, wantReason: "more than one capability",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EvaluateRecovery(tt.budget, restore, tt.samples)
			if got.Verdict != tt.want {
				t.Fatalf("verdict = %s (%s), want %s", got.Verdict, got.Reason, tt.want)
			}
			if !strings.Contains(got.Reason, tt.wantReason) {
				t.Errorf("reason = %q, want it to contain %q", got.Reason, tt.wantReason)
			}
			if got.Recovered != tt.wantRecovered || got.TimeToRecover != tt.wantTTR {
				t.Errorf("recovered/TTR = %v/%s, want %v/%s", got.Recovered, got.TimeToRecover, tt.wantRecovered, tt.wantTTR)
			}
		})
	}
	if got := EvaluateRecovery(time.Second, time.Time{}, nil); got.Verdict != Invalid {
		t.Errorf("zero restore time: verdict %s, want INVALID", got.Verdict)
	}
}

func TestEvaluateWork(t *testing.T) {
	deferred := Expectation{Capability: Analytics, Expect: Deferred}
	lost := Expectation{Capability: Analytics, Expect: Lost}
	check := func(submitted, applied int) WorkCheck {
		return WorkCheck{Capability: Analytics, What: "hits", Submitted: submitted, Applied: applied}
	}
	tests := []struct {
		name   string
		exp    Expectation
		check  WorkCheck
		want   Verdict
		reason string
	}{
		{"deferred: all applied", deferred, check(120, 120), Pass, "deferred work applied: 120 of 120 hits"},
		{"deferred: some lost", deferred, check(120, 117), Fail, "deferred work lost: 117 of 120 hits submitted during the outage were applied after recovery (3 missing)"},
		{"deferred: applied twice", deferred, check(120, 240), Fail, "applied more than once: 240 applied for 120 hits"},
		{"deferred: nothing submitted", deferred, check(0, 0), Invalid, "no hits were submitted during the outage"},
		{"lost: none applied", lost, check(5, 0), Pass, "lost as documented: none of 5 hits"},
		{"lost: some applied after all", lost, check(5, 2), Fail, "expected lost, but 2 of 5 hits submitted during the outage were applied after recovery"},
		{"lost: nothing submitted", lost, check(0, 0), Invalid, "exercised nothing"},
		{"kept cannot take a work check", Expectation{Capability: Analytics, Expect: Kept}, check(1, 1), Invalid, "not kept"},
		{"check for another capability", deferred, WorkCheck{Capability: Alerts, Submitted: 1, Applied: 1}, Invalid, "work check is for alerts, not analytics"},
		{"negative applied", deferred, check(3, -1), Invalid, "negative count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EvaluateWork(tt.exp, tt.check)
			if got.Verdict != tt.want || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("got %s %q, want %s containing %q", got.Verdict, got.Reason, tt.want, tt.reason)
			}
		})
	}
}

func TestEvaluateCell(t *testing.T) {
	w := Window{Start: t0, End: at(30 * sec)}
	outageAndRecovery := func(outageOK bool) []Sample {
		var out []Sample
		for d := time.Duration(0); d < 30*sec; d += 5 * sec {
			out = append(out, Sample{Capability: Analytics, Time: at(d), OK: outageOK})
		}
		return append(out,
			Sample{Capability: Analytics, Time: at(35 * sec), OK: true},
			Sample{Capability: Analytics, Time: at(40 * sec), OK: true})
	}
	deferred := Expectation{Capability: Analytics, Expect: Deferred, RecoveryBudget: 20 * sec}

	t.Run("deferred with all work applied passes", func(t *testing.T) {
		got := EvaluateCell(deferred, w, outageAndRecovery(true), &WorkCheck{Capability: Analytics, What: "hits", Submitted: 10, Applied: 10})
		if got.Verdict != Pass || got.Work == nil || got.Recovery.TimeToRecover != 5*sec {
			t.Fatalf("got %+v", got)
		}
		for _, part := range []string{"outage: deferred", "recovery: recovered after 5s", "work: deferred work applied"} {
			if !strings.Contains(got.Reason, part) {
				t.Errorf("reason %q lacks %q", got.Reason, part)
			}
		}
	})
	t.Run("deferred without a work check is INVALID", func(t *testing.T) {
		got := EvaluateCell(deferred, w, outageAndRecovery(true), nil)
		if got.Verdict != Invalid || !strings.Contains(got.Reason, "no work check ran") {
			t.Fatalf("got %s %q", got.Verdict, got.Reason)
		}
	})
	t.Run("FAIL beats INVALID", func(t *testing.T) {
		lost := Expectation{Capability: Analytics, Expect: Lost, RecoveryBudget: 20 * sec}
		got := EvaluateCell(lost, w, outageAndRecovery(true), &WorkCheck{Capability: Analytics, Submitted: 0})
		if got.Verdict != Fail || got.Outage.Verdict != Fail || got.Work.Verdict != Invalid {
			t.Fatalf("got %s (outage %s, work %sec)", got.Verdict, got.Outage.Verdict, got.Work.Verdict)
		}
		if !strings.HasPrefix(got.Reason, "outage: expected lost") || strings.Contains(got.Reason, "work:") {
			t.Errorf("reason should name only the failing part: %q", got.Reason)
		}
	})
	t.Run("kept that recovers late fails on recovery", func(t *testing.T) {
		kept := Expectation{Capability: Analytics, Expect: Kept, RecoveryBudget: 2 * sec}
		got := EvaluateCell(kept, w, outageAndRecovery(true), nil)
		if got.Verdict != Fail || got.Outage.Verdict != Pass || got.Recovery.Verdict != Fail || got.Work != nil {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("unasserted still has to recover", func(t *testing.T) {
		un := Expectation{Capability: Analytics, Expect: Unasserted, Reason: "r", RecoveryBudget: 20 * sec}
		samples := append(outageAndRecovery(false), Sample{Capability: Analytics, Time: at(45 * sec), OK: false})
		got := EvaluateCell(un, w, samples, nil)
		if got.Verdict != Fail || got.Outage.Verdict != Pass || !strings.Contains(got.Reason, "recovery: not recovered") {
			t.Fatalf("got %s %q", got.Verdict, got.Reason)
		}
	})
}

func TestWorst(t *testing.T) {
	tests := []struct {
		in   []Verdict
		want Verdict
	}{
		{nil, Pass},
		{[]Verdict{Pass, Pass}, Pass},
		{[]Verdict{Pass, Invalid}, Invalid},
		{[]Verdict{Invalid, Fail, Pass}, Fail},
		{[]Verdict{Fail, Invalid}, Fail},
	}
	for _, tt := range tests {
		if got := Worst(tt.in...); got != tt.want {
			t.Errorf("Worst(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestWindow(t *testing.T) {
	w := Window{Start: t0, End: at(10 * sec)}
	if w.Duration() != 10*sec || !w.Contains(t0) || w.Contains(at(10*sec)) || w.Contains(at(-time.Nanosecond)) {
		t.Error("Window bounds must be [Start, End)")
	}
}
