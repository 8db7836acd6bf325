package resilient

// This file holds RFC 9457 problem details: Problem, and the bounded,
// lenient parse of an application/problem+json error body.

import (
	"encoding/json"
	"mime"
	"strings"
)

// Problem holds RFC 9457 problem details, as a server sent them in an
// application/problem+json body. Members of the wrong JSON type are left
// empty rather than failing the whole parse.
type Problem struct {
	Type     string         // URI reference identifying the problem type; "" means "about:blank"
	Title    string         // short summary of the problem type
	Status   int            // status code the server meant, 0 when absent
	Detail   string         // explanation of this occurrence
	Instance string         // URI reference identifying this occurrence
	Extras   map[string]any // any other members, e.g. "errors" or "traceId"
}

// parseProblem returns the problem details in b when contentType is
// application/problem+json (with any parameters) and b is a JSON object;
// otherwise nil.
func parseProblem(contentType string, b []byte) *Problem {
	if strings.IndexByte(contentType, '+') < 0 || !containsFold(contentType, "problem+json") {
		return nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/problem+json" || len(b) == 0 {
		return nil
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(b, &raw) != nil || raw == nil {
		return nil
	}
	p := &Problem{}
	str := func(k string, dst *string) {
		if v, ok := raw[k]; ok {
			json.Unmarshal(v, dst) // a non-string leaves dst empty
			delete(raw, k)
		}
	}
	str("type", &p.Type)
	str("title", &p.Title)
	str("detail", &p.Detail)
	str("instance", &p.Instance)
	if v, ok := raw["status"]; ok {
		var n float64
		if json.Unmarshal(v, &n) == nil && n >= 100 && n <= 999 {
			p.Status = int(n)
		}
		delete(raw, "status")
	}
	for k, v := range raw {
		var x any
		if json.Unmarshal(v, &x) == nil {
			if p.Extras == nil {
				p.Extras = make(map[string]any, len(raw))
			}
			p.Extras[k] = x
		}
	}
	return p
}

// containsFold reports whether substr, in ASCII lower case, is in s in any
// case, without allocating.
func containsFold(s, substr string) bool {
	for i := 0; i+len(substr) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(substr)], substr) {
			return true
		}
	}
	return false
}
