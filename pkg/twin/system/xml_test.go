package system

import (
	"bytes"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The hand-written XML of porta's to_xml methods (xml.go), without a running twin.

func TestPlanXML(t *testing.T) {
	p := &planRow{ID: 7, ServiceID: 3, Name: "Gold & co", State: "published", Default: true, SetupFee: 1.5, CostPerMonth: 10,
		CancellationPeriod: 0}
	var b bytes.Buffer
	writePlanXML(&b, p)
	want := `<plan custom="false" default="true"><id>7</id><name>Gold &amp; co</name><type>application_plan</type>` +
		`<state>published</state><approval_required>false</approval_required><setup_fee>1.5</setup_fee>` +
		`<cost_per_month>10.0</cost_per_month><trial_period_days/><cancellation_period>0</cancellation_period>` +
		`<service_id>3</service_id></plan>`
	if b.String() != want {
		t.Errorf("plan XML\n got  %s\n want %s", b.String(), want)
	}
	p.TrialPeriodDays = sql.NullInt64{Int64: 3, Valid: true}
	b.Reset()
	writePlanXML(&b, p)
	if !strings.Contains(b.String(), "<trial_period_days>3</trial_period_days>") {
		t.Errorf("trial days: %s", b.String())
	}
}

func TestPlanListXML(t *testing.T) {
	a := &planRow{ID: 1, ServiceID: 2, Name: "a", State: "hidden"}
	c := &planRow{ID: 3, ServiceID: 2, Name: "b", State: "published", Default: true}
	got := string(toXML(map[string]any{"plans": []any{a.json(), c.json()}}))
	if !strings.HasPrefix(got, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<plans><plan custom="false" default="false"><id>1</id>`) ||
		!strings.Contains(got, `</plan><plan custom="false" default="true"><id>3</id>`) || !strings.HasSuffix(got, "</plan></plans>") ||
		strings.Contains(got, "links") {
		t.Errorf("plans XML: %s", got)
	}
	if got := string(toXML(map[string]any{"plans": []any{}})); !strings.HasSuffix(got, "<plans></plans>") {
		t.Errorf("empty plans XML: %s", got)
	}
}

func TestMetricXML(t *testing.T) {
	hits := &metricRow{ID: 5, OwnerType: "Service", OwnerID: 2, SystemName: "hits", FriendlyName: "Hits", Unit: "hit"}
	method := &metricRow{ID: 6, OwnerType: "Service", OwnerID: 2, SystemName: "get", FriendlyName: "Get", Unit: "hit",
		ParentID: sql.NullInt64{Int64: 5, Valid: true}, Description: "reads"}
	backend := &metricRow{ID: 9, OwnerType: "BackendApi", OwnerID: 4, SystemName: "bm", FriendlyName: "Bm", Unit: "hit"}
	for _, c := range []struct {
		m    *metricRow
		want string
	}{
		{hits, `<metric><id>5</id><name>hits</name><system_name>hits</system_name><friendly_name>Hits</friendly_name><service_id>2</service_id><description/><unit>hit</unit></metric>`},
		{method, `<method><id>6</id><name>get</name><system_name>get</system_name><friendly_name>Get</friendly_name><service_id>2</service_id><description>reads</description><metric_id>5</metric_id></method>`},
		{backend, `<metric><id>9</id><name>bm.4</name><system_name>bm.4</system_name><friendly_name>Bm</friendly_name><service_id/><description/><unit>hit</unit></metric>`},
	} {
		got := string(toXML(c.m.json()))
		if !strings.HasSuffix(got, "\n"+c.want) {
			t.Errorf("metric %d XML\n got  %s\n want %s", c.m.ID, got, c.want)
		}
	}
	var b bytes.Buffer
	writeServiceMetricsXML(&b, 2, `[{"id":5,"parent_id":null,"system_name":"hits","friendly_name":"Hits","unit":"hit","description":null},`+
		`{"id":6,"parent_id":5,"system_name":"get","friendly_name":"Get","unit":"hit","description":""}]`)
	if !strings.HasPrefix(b.String(), "<metrics><metric><id>5</id>") || !strings.Contains(b.String(), "<metric_id>5</metric_id></method></metrics>") {
		t.Errorf("service metrics XML: %s", b.String())
	}
}

func TestErrorsXML(t *testing.T) {
	for _, c := range []struct {
		body any
		want string
	}{
		{invalid("system_name", "has already been taken").(*httpError).body, "<errors><error>System name has already been taken</error></errors>"},
		{map[string]any{"errors": map[string][]string{"plan_id": {"can't be blank"}, "base": {"It & that"}}},
			"<errors><error>It &amp; that</error><error>Plan can't be blank</error></errors>"},
		{map[string]any{"errors": map[string]any{"org_name": []any{"can't be blank"}}}, "<errors><error>Organization/Group Name can't be blank</error></errors>"},
		{map[string]string{"error": "Access denied"}, "<error>Access denied</error>"},
	} {
		if got := string(toXML(c.body)); !strings.HasSuffix(got, "\n"+c.want) {
			t.Errorf("%v\n got  %s\n want %s", c.body, got, c.want)
		}
	}
	rec := httptest.NewRecorder()
	writeBody(rec, "xml", http.StatusNotFound, errNotFound.body)
	if rec.Code != 404 || rec.Body.Len() != 0 {
		t.Errorf("XML 404: %d %q, want head :not_found", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	writeBody(rec, "json", http.StatusNotFound, errNotFound.body)
	if rec.Body.String() != `{"status":"Not found"}` {
		t.Errorf("JSON 404: %q", rec.Body.String())
	}
}

func TestJSONOnly(t *testing.T) {
	ran := 0
	h := jsonOnly(func(w http.ResponseWriter, _ *http.Request, _ *reqCtx) error {
		ran++
		w.Header().Set("Location", "/x")
		w.WriteHeader(http.StatusCreated)
		return nil
	})
	rec := httptest.NewRecorder()
	err := h(rec, httptest.NewRequest("POST", "/", nil), &reqCtx{format: "xml"})
	he, _ := err.(*httpError)
	if ran != 1 || he == nil || he.status != http.StatusNotAcceptable || rec.Code != 200 || rec.Header().Get("Location") != "" {
		t.Fatalf("xml: ran %d, err %v, recorder %d %v", ran, err, rec.Code, rec.Header())
	}
	if got := string(toXML(he.body)); !strings.HasSuffix(got, "\n"+`<error>The server does not understand "xml" request.</error>`) {
		t.Errorf("406 body: %s", got)
	}
	notFound := jsonOnly(func(http.ResponseWriter, *http.Request, *reqCtx) error { return errNotFound })
	if err := notFound(rec, httptest.NewRequest("GET", "/", nil), &reqCtx{format: "xml"}); err != errNotFound {
		t.Errorf("a missing record before respond_with: %v, want 404", err)
	}
	if err := h(rec, httptest.NewRequest("POST", "/", nil), &reqCtx{format: "json"}); err != nil || rec.Code != http.StatusCreated {
		t.Errorf("json: %v %d", err, rec.Code)
	}
}

func TestRoarXML(t *testing.T) {
	body := map[string]any{"proxy": map[string]any{"id": 4, "service_id": 2, "endpoint": "https://gw", "api_backend": nil,
		"hostname_rewrite": nil, "created_at": "t", "links": []any{link("self", "/x")}}}
	want := `<proxy><service_id>2</service_id><endpoint>https://gw</endpoint><api_backend/><created_at>t</created_at></proxy>`
	if got := string(toXML(body)); !strings.HasSuffix(got, "\n"+want) {
		t.Errorf("proxy XML\n got  %s\n want %s", got, want)
	}
	rules := map[string]any{"mapping_rules": []any{map[string]any{"mapping_rule": map[string]any{"updated_at": "u", "id": 1,
		"pattern": "/", "metric_id": 5, "links": []any{link("self", "/y")}}}}}
	want = `<mapping_rules><mapping_rule><id>1</id><metric_id>5</metric_id><pattern>/</pattern><updated_at>u</updated_at></mapping_rule></mapping_rules>`
	if got := string(toXML(rules)); !strings.HasSuffix(got, "\n"+want) {
		t.Errorf("mapping rules XML\n got  %s\n want %s", got, want)
	}
	keys := map[string]any{"keys": []any{map[string]any{"key": map[string]any{"value": `a"b`}}}}
	if got := string(toXML(keys)); !strings.HasSuffix(got, "\n"+`<keys><key><value>a"b</value></key></keys>`) {
		t.Errorf("keys XML: %s", got)
	}
}
