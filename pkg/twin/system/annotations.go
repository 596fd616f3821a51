package system

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Annotations on products, backend APIs and accounts, as porta 3scale-2.16.4-GA keeps them:
// rows of an annotations table (annotated_type, annotated_id, name, value); the API permits an
// annotations hash on create and update (porta@3scale-2.16.4-GA:
// app/controllers/admin/api/services_controller.rb, backend_apis_controller.rb DEFAULT_PARAMS,
// app/models/account.rb:327 for signup and account update), a blank value removes the
// annotation, an existing one is overwritten (app/models/concerns/annotating/model.rb annotate),
// and the representers render annotations_hash as "annotations", {} when there is none
// (app/representers/service_representer.rb, backend_api_representer.rb,
// account_representer.rb). Only managed_by is supported (app/models/annotation.rb
// SUPPORTED_ANNOTATIONS, validates inclusion); value and name are at most 255 characters.

// annotationKey matches annotations[name] and wrapper[annotations][name].
var annotationKey = regexp.MustCompile(`(?:^|\[)annotations\]?\[([^\[\]]+)\]$`)

// supportedAnnotations is Annotation::SUPPORTED_ANNOTATIONS.
var supportedAnnotations = map[string]bool{"managed_by": true}

// annotationsCol is a column expression with the annotations of the row of table as a JSON
// object, NULL when it has none.
func annotationsCol(annotatedType, table string) string {
	return `(SELECT JSON_OBJECTAGG(an.name, an.value) FROM annotations an WHERE an.annotated_type='` + annotatedType +
		`' AND an.annotated_id=` + table + `.id)`
}

// decodeAnnotations renders an annotationsCol value: the hash, {} when NULL.
func decodeAnnotations(v sql.NullString) map[string]any {
	m := map[string]any{}
	if v.Valid {
		_ = json.Unmarshal([]byte(v.String), &m)
	}
	return m
}

// annotationsParam returns the annotations[name]=value parameters (also wrapped, as
// service[annotations][name]), nil when there are none. An unsupported name or a name or value
// longer than 255 characters fails the Annotation validations: 422.
func annotationsParam(p params) (map[string]string, error) {
	out := map[string]string{}
	for k, vs := range p.v {
		if m := annotationKey.FindStringSubmatch(k); m != nil && len(vs) > 0 {
			out[m[1]] = vs[0]
		}
	}
	var errs []string
	for name, v := range out {
		switch {
		case len(name) > 255 || len(v) > 255:
			errs = append(errs, "is too long (maximum is 255 characters)")
		case !supportedAnnotations[name] && strings.TrimSpace(v) != "":
			errs = append(errs, "is not included in the list")
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, &httpError{http.StatusUnprocessableEntity, map[string]any{"errors": map[string][]string{"annotations.name": slices.Compact(errs)}}}
	}
	return out, nil
}

// saveAnnotations writes annotations on one record: a blank value removes the annotation.
func saveAnnotations(ctx context.Context, q querier, annotatedType string, id int64, annotations map[string]string) error {
	for name, v := range annotations {
		if strings.TrimSpace(v) == "" {
			if _, err := q.ExecContext(ctx, `DELETE FROM annotations WHERE annotated_type=? AND annotated_id=? AND name=?`, annotatedType, id, name); err != nil {
				return err
			}
			continue
		}
		t := now()
		if _, err := q.ExecContext(ctx, `INSERT INTO annotations (annotated_type, annotated_id, name, value, created_at, updated_at) VALUES (?,?,?,?,?,?)
			ON DUPLICATE KEY UPDATE value=VALUES(value), updated_at=VALUES(updated_at)`, annotatedType, id, name, v, t, t); err != nil {
			return err
		}
	}
	return nil
}
