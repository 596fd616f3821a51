package report

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// Series is every sample of one capability. In JSON it is columnar, one short
// array per sample, because a run holds tens of thousands of them:
//
//	{"capability": "production-traffic", "start": "2026-05-01T12:00:00Z",
//	 "columns": ["offsetMs", "ok", "status", "latencyMs", "class", "detail"],
//	 "rows": [[0, 1, 200, 3.2, "", ""], [1000.001, 0, 0, 0.4, "refused", "dial tcp: ..."]]}
//
// Offsets are from start and, like latencies, in milliseconds with nanosecond
// precision (decimal fractions), so decoding gives back the exact samples.
type Series struct {
	Capability scenario.Capability
	Samples    []scenario.Sample
}

// seriesColumns names the row fields; a decoder checks them.
var seriesColumns = []string{"offsetMs", "ok", "status", "latencyMs", "class", "detail"}

type seriesJSON struct {
	Capability scenario.Capability `json:"capability"`
	Start      time.Time           `json:"start,omitzero"`
	Columns    []string            `json:"columns"`
	Rows       [][]any             `json:"rows"`
}

type rowJSON struct {
	Offset  json.Number
	OK      int
	Status  int
	Latency json.Number
	Class   scenario.ErrorClass
	Detail  string
}

// MarshalJSON implements json.Marshaler.
func (s Series) MarshalJSON() ([]byte, error) {
	out := seriesJSON{Capability: s.Capability, Columns: seriesColumns, Rows: make([][]any, 0, len(s.Samples))}
	if len(s.Samples) > 0 {
		out.Start = s.Samples[0].Time.UTC()
	}
	for _, x := range s.Samples {
		ok := 0
		if x.OK {
			ok = 1
		}
		out.Rows = append(out.Rows, []any{
			millis(x.Time.Sub(out.Start)), ok, x.Status, millis(x.Latency), x.ErrorClass, x.Detail,
		})
	}
	return json.Marshal(out)
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *Series) UnmarshalJSON(b []byte) error {
	var in struct {
		Capability scenario.Capability `json:"capability"`
		Start      time.Time           `json:"start"`
		Columns    []string            `json:"columns"`
		Rows       []json.RawMessage   `json:"rows"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if fmt.Sprint(in.Columns) != fmt.Sprint(seriesColumns) {
		return fmt.Errorf("series %s: columns %v, want %v", in.Capability, in.Columns, seriesColumns)
	}
	s.Capability, s.Samples = in.Capability, make([]scenario.Sample, 0, len(in.Rows))
	for i, raw := range in.Rows {
		var r rowJSON
		if err := json.Unmarshal(raw, &[]any{&r.Offset, &r.OK, &r.Status, &r.Latency, &r.Class, &r.Detail}); err != nil {
			return fmt.Errorf("series %s row %d: %w", in.Capability, i, err)
		}
		off, err := parseMillis(r.Offset)
		if err != nil {
			return fmt.Errorf("series %s row %d offset: %w", in.Capability, i, err)
		}
		lat, err := parseMillis(r.Latency)
		if err != nil {
			return fmt.Errorf("series %s row %d latency: %w", in.Capability, i, err)
		}
		s.Samples = append(s.Samples, scenario.Sample{
			Capability: in.Capability, Time: in.Start.Add(off), OK: r.OK == 1, Status: r.Status,
			Latency: lat, ErrorClass: r.Class, Detail: r.Detail,
		})
	}
	return nil
}

// millis renders d in milliseconds as a JSON number with up to six decimals
// (nanoseconds), without float rounding.
func millis(d time.Duration) json.Number {
	neg := d < 0
	if neg {
		d = -d
	}
	ms, ns := int64(d/time.Millisecond), int64(d%time.Millisecond)
	s := strconv.FormatInt(ms, 10)
	if ns != 0 {
		frac := fmt.Sprintf("%06d", ns)
		for frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
		s += "." + frac
	}
	if neg {
		s = "-" + s
	}
	return json.Number(s)
}

func parseMillis(n json.Number) (time.Duration, error) {
	s, neg := strings.CutPrefix(string(n), "-")
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q has more than nanosecond precision", n)
	}
	ms, err := strconv.ParseUint(whole, 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%q is not milliseconds", n)
	}
	var ns uint64
	if frac != "" {
		if ns, err = strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 32); err != nil {
			return 0, fmt.Errorf("%q is not milliseconds", n)
		}
	}
	d := time.Duration(ms)*time.Millisecond + time.Duration(ns)
	if neg {
		d = -d
	}
	return d, nil
}
