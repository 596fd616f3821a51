package backend

import (
	"strconv"
	"strings"
	"time"
)

// xmlContentType is what apisonator sends with every Service Management API body
// (research/apicast-apisonator.md §4.1, §4.2).
const xmlContentType = "application/vnd.3scale-v2.0+xml"

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>`

// timeFormat is apisonator's TIME_FORMAT for period_start and period_end.
const timeFormat = "2006-01-02 15:04:05 -0700"

var (
	textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
)

// statusXML renders <status> without whitespace, as apisonator concatenates it (§4.2). For an
// authorized authrep current_value includes this request's usage; for authorize and for
// denials it is the stored value.
func statusXML(st *authStatus, authrep bool) string {
	var b strings.Builder
	b.WriteString(xmlHeader)
	b.WriteString("<status><authorized>")
	b.WriteString(strconv.FormatBool(st.authorized))
	b.WriteString("</authorized>")
	if st.reason != nil {
		b.WriteString("<reason>" + textEscaper.Replace(st.reason.msg) + "</reason>")
	}
	b.WriteString("<plan>" + textEscaper.Replace(st.plan) + "</plan>")
	if len(st.reports) > 0 {
		b.WriteString("<usage_reports>")
		for _, r := range st.reports {
			cur := r.current
			if authrep && st.authorized {
				cur = r.after
			}
			// A report is flagged only when its stored value is already over the limit: neither
			// this request's usage nor a denial it causes counts
			// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor/usage_report.rb
			// exceeded?, current_value).
			b.WriteString(`<usage_report metric="` + attrEscaper.Replace(r.metric.Name) + `" period="` + string(r.period) + `"`)
			if r.current > r.max {
				b.WriteString(` exceeded="true"`)
			}
			b.WriteString(">")
			if r.period != periodEternity {
				b.WriteString("<period_start>" + r.period.start(st.now).Format(timeFormat) + "</period_start>")
				b.WriteString("<period_end>" + r.period.end(st.now).Format(timeFormat) + "</period_end>")
			}
			b.WriteString("<max_value>" + itoa(r.max) + "</max_value>")
			b.WriteString("<current_value>" + itoa(cur) + "</current_value>")
			b.WriteString("</usage_report>")
		}
		b.WriteString("</usage_reports>")
	}
	// Then the extensions' sections: the application's keys, and each usage report's metric
	// with its children (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor/status.rb
	// to_xml, add_app_keys_section, add_hierarchy_section).
	if k := st.appKeys; k != nil {
		b.WriteString(`<app_keys app="` + attrEscaper.Replace(k.app) + `" svc="` + attrEscaper.Replace(k.svc) + `">`)
		for i, key := range k.keys {
			if i == 256 {
				break
			}
			b.WriteString(`<key id="` + attrEscaper.Replace(key) + `"/>`)
		}
		b.WriteString("</app_keys>")
	}
	if st.hierarchy != nil {
		b.WriteString("<hierarchy>")
		for _, r := range st.reports {
			b.WriteString(`<metric name="` + attrEscaper.Replace(r.metric.Name) + `" children="` + attrEscaper.Replace(strings.Join(st.hierarchy[r.metric.Name], " ")) + `"/>`)
		}
		b.WriteString("</hierarchy>")
	}
	b.WriteString("</status>")
	return b.String()
}

// errorXML renders a raised error (§4.2, Rack::ExceptionCatcher).
func errorXML(e *apiError) string {
	return xmlHeader + `<error code="` + attrEscaper.Replace(e.code) + `">` + textEscaper.Replace(e.msg) + "</error>"
}

// rubyTime is how Ruby's Time#to_s renders a UTC time in apisonator's JSON (events, alerts).
func rubyTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
