package apicast

import (
	"net/http"
	"net/url"
	"strings"
)

// credentials are the application credentials of one request, in the order APIcast puts them
// in the authorization cache key and in the backend query (§1.1 steps 2 and 4).
type credentials []credential

type credential struct {
	name  string // backend parameter: user_key, app_id or app_key
	value string
}

// cacheKeyPart is "<cred1>[:<cred2>]".
func (c credentials) cacheKeyPart() string {
	parts := make([]string, len(c))
	for i, kv := range c {
		parts[i] = kv.value
	}
	return strings.Join(parts, ":")
}

// extractCredentials reads the service's credentials from where credentials_location says:
// query (the default; for requests with a form body, its fields count too), headers, or the
// Basic authorization header. backend_version 1 needs a user_key; 2 needs an app_id, with an
// optional app_key (§1.1 step 2). ok is false when they are missing, which APIcast answers with
// 401 before looking at mapping rules.
func (s *service) extractCredentials(r *http.Request, args url.Values) (creds credentials, ok bool) {
	lookup := func(param string) string {
		switch s.credsLocation {
		case "headers":
			if v := r.Header.Get(param); v != "" {
				return v
			}
			// nginx accepts user_key and user-key as the same header name.
			return r.Header.Get(strings.ReplaceAll(param, "_", "-"))
		case "authorization":
			user, pass, ok := r.BasicAuth()
			if !ok {
				return ""
			}
			switch param {
			case s.userKeyParam, s.appIDParam:
				return user
			case s.appKeyParam:
				return pass
			}
			return ""
		default:
			return args.Get(param)
		}
	}

	switch s.backendVersion {
	case "1":
		if k := lookup(s.userKeyParam); k != "" {
			return credentials{{"user_key", k}}, true
		}
	case "2":
		id := lookup(s.appIDParam)
		if id == "" {
			return nil, false
		}
		creds = credentials{{"app_id", id}}
		if k := lookup(s.appKeyParam); k != "" {
			creds = append(creds, credential{"app_key", k})
		}
		return creds, true
	}
	// OAuth and OIDC services are outside the twin: their tokens are never found, so such a
	// service answers 401 like one whose client sent nothing.
	return nil, false
}
