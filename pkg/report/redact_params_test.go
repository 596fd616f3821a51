package report

import (
	"testing"
	"time"
)

func TestRedactParams(t *testing.T) {
	for in, want := range map[string]string{
		`GET /v1/words?user_key=0123abcd&x=1 HTTP/1.1`:                   `GET /v1/words?user_key=[REDACTED]&x=1 HTTP/1.1`,
		`"GET /admin/api/services.json?access_token=tok-1 HTTP/1.1" 200`: `"GET /admin/api/services.json?access_token=[REDACTED] HTTP/1.1" 200`,
		`url="http://h/x?a=1&App_Key=s3cr3t"`:                            `url="http://h/x?a=1&App_Key=[REDACTED]"`,
		`no credentials: monkey=banana`:                                  `no credentials: monkey=banana`,
		`a keyword=value that only ends like one`:                        `a keyword=value that only ends like one`,
	} {
		if got := RedactParams(in); got != want {
			t.Errorf("RedactParams(%q)\n = %q\nwant %q", in, got, want)
		}
	}
	j := New("r", time.Now(), Target{})
	j.AddSecrets("tok-1")
	if got := j.Redact("token tok-1 in ?service_token=abc"); got != "token [REDACTED] in ?service_token=[REDACTED]" {
		t.Errorf("Journal.Redact = %q", got)
	}
	// The JUnit properties blank what the failure message does.
	res := ScenarioResult{Component: "backend-listener", Reason: "GET /x?user_key=k123 with tok-1 failed"}
	found := false
	for _, p := range j.JUnitProperties(res) {
		if p.Name == "scenario.reason" {
			found = true
			if p.Value != "GET /x?user_key=[REDACTED] with [REDACTED] failed" {
				t.Errorf("scenario.reason property %q", p.Value)
			}
		}
	}
	if !found {
		t.Error("no scenario.reason property")
	}
}
