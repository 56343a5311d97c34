package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSetEditsDottedFields(t *testing.T) {
	tests := []struct {
		name, body string
		sets       []string
		want       string // the body after, or "error: substring"
	}{
		{"ok/number into a new object", `{"name":"a"}`, []string{"cors_headers.max_age=900"}, `{"cors_headers":{"max_age":900},"name":"a"}`},
		{"ok/bool and string", `{"cors_headers":{"max_age":1}}`, []string{"cors_headers.allow_credentials=true", "name=API v2"}, `{"cors_headers":{"allow_credentials":true,"max_age":1},"name":"API v2"}`},
		{"ok/flow list", `{}`, []string{"cors_headers.allowed_methods=[GET, POST]"}, `{"cors_headers":{"allowed_methods":["GET","POST"]}}`},
		{"ok/JSON object", `{}`, []string{`include[0]={"email": {"email": "a@example.com"}}`}, `{"include":[{"email":{"email":"a@example.com"}}]}`},
		{"ok/index into a list of objects", `{"policies":[{"id":"x","precedence":1}]}`, []string{"policies[0].precedence=5"}, `{"policies":[{"id":"x","precedence":5}]}`},
		{"ok/append", `{"tags":["a"]}`, []string{"tags[1]=b"}, `{"tags":["a","b"]}`},
		{"ok/null", `{"upstream_service_token":{"client_id":"x"}}`, []string{"upstream_service_token=null"}, `{"upstream_service_token":null}`},
		{"ok/empty value is the empty string", `{"custom_deny_message":"x"}`, []string{"custom_deny_message="}, `{"custom_deny_message":""}`},
		{"ok/a time stays a string", `{}`, []string{"previous_client_secret_expires_at=2026-01-02T15:04:05Z"}, `{"previous_client_secret_expires_at":"2026-01-02T15:04:05Z"}`},
		{"ok/value with =", `{}`, []string{"custom_deny_url=https://x.example/?a=b"}, `{"custom_deny_url":"https://x.example/?a=b"}`},
		{"fail/no =", `{}`, []string{"name"}, "error: PATH=VALUE"},
		{"fail/empty member", `{}`, []string{"cors_headers..max_age=1"}, "error: empty member name"},
		{"fail/bad index", `{}`, []string{"tags[x]=1"}, "error: [N]"},
		{"fail/into a string", `{"name":"a"}`, []string{"name.first=b"}, "error: name: is a string, not an object"},
		{"fail/index past the end", `{"tags":[]}`, []string{"tags[3]=b"}, "error: tags has 0 elements"},
		{"fail/index into an object", `{"cors_headers":{}}`, []string{"cors_headers[0]=1"}, "error: cors_headers: is an object, not a list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body map[string]any
			if err := json.Unmarshal([]byte(tc.body), &body); err != nil {
				t.Fatal(err)
			}
			var err error
			for _, s := range tc.sets {
				var e fieldEdit
				if e, err = parseSet(s); err == nil {
					err = e.apply(body)
				}
				if err != nil {
					break
				}
			}
			if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want one containing %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(body)
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
