package catalog

import "testing"

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{in: "2.14", want: Version{2, 14, 0}},
		{in: "2.16.3", want: Version{2, 16, 3}},
		{in: "v2.15.1", want: Version{2, 15, 1}},
		{in: " 2.12 ", want: Version{2, 12, 0}},
		{in: "2", wantErr: true},
		{in: "2.16.3.1", wantErr: true},
		{in: "2.x", wantErr: true},
		{in: "2.-1", wantErr: true},
		{in: "2.+1", wantErr: true},
		{in: "2..1", wantErr: true},
		{in: "", wantErr: true},
		{in: "3scale-2.16.3-GA", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseVersion(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseVersion(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseVersion(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseVersion(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestVersionCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"2.14", "2.14.0", 0},
		{"2.14", "2.15", -1},
		{"2.16.3", "2.16", 1},
		{"3.0", "2.16.9", 1},
		{"2.9", "2.10", -1},
	}
	for _, tt := range tests {
		if got := MustParseVersion(tt.a).Compare(MustParseVersion(tt.b)); got != tt.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	if !MustParseVersion("2.15").AtLeast(V2_15) || MustParseVersion("2.14.1").AtLeast(V2_15) {
		t.Error("AtLeast(2.15) wrong at the boundary")
	}
	if got := MustParseVersion("2.16").String(); got != "2.16.0" {
		t.Errorf("String() = %q, want 2.16.0", got)
	}
}
