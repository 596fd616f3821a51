package system

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"sort"
)

// toXML renders an API body as XML, porta's default format under /admin/api (research/porta-zync.md
// §1.5). The body goes through JSON first so the XML carries the same fields as the JSON
// representation: an object becomes nested elements, a collection {"services":[{"service":{}}]}
// becomes <services><service>…</service></services>. Element order is alphabetical; porta's
// XML builders order fields by hand, which no client here relies on.
func toXML(body any) []byte {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		writeXMLElem(&b, "response", v)
		return b.Bytes()
	}
	for k, val := range m {
		writeXMLElem(&b, k, val)
	}
	return b.Bytes()
}

func writeXMLElem(b *bytes.Buffer, name string, v any) {
	switch t := v.(type) {
	case nil:
		b.WriteString("<" + name + "/>")
	case map[string]any:
		b.WriteString("<" + name + ">")
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			writeXMLElem(b, k, t[k])
		}
		b.WriteString("</" + name + ">")
	case []any:
		b.WriteString("<" + name + ">")
		for _, item := range t {
			// Collection items are single-key wrappers; write the wrapper's key as the element.
			if m, ok := item.(map[string]any); ok && len(m) == 1 {
				for k, val := range m {
					writeXMLElem(b, k, val)
				}
				continue
			}
			writeXMLElem(b, "item", item)
		}
		b.WriteString("</" + name + ">")
	case json.Number:
		b.WriteString("<" + name + ">" + t.String() + "</" + name + ">")
	case bool:
		s := "false"
		if t {
			s = "true"
		}
		b.WriteString("<" + name + ">" + s + "</" + name + ">")
	case string:
		b.WriteString("<" + name + ">")
		_ = xml.EscapeText(b, []byte(t))
		b.WriteString("</" + name + ">")
	}
}
