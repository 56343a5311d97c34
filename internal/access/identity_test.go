package access

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestIdentityProviderSpecNormalize(t *testing.T) {
	endpoints := `"auth_url":"https://i.test/a","token_url":"https://i.test/t","certs_url":"https://i.test/k"`
	tests := []struct {
		name           string
		spec           string
		secretRequired bool
		want           string   // the stored config (Public) as JSON, for successes
		fields         []string // the fields at fault, for failures
	}{
		{"ok/oidc endpoints keep no defaults", `{"type":"oidc","config":{"client_id":"c","client_secret":"s",` + endpoints + `}}`, true,
			`{"client_id":"c",` + endpoints + `}`, nil},
		{"ok/oidc discovery keeps its settings", `{"type":"oidc","config":{"client_id":"c","client_secret":"s","issuer_url":"http://127.0.0.1:5556/dex",
			"scopes":["openid","groups"],"claims":["groups"],"email_claim_name":"mail","pkce_enabled":false}}`, true,
			`{"client_id":"c","issuer_url":"http://127.0.0.1:5556/dex","scopes":["openid","groups"],"claims":["groups"],"email_claim_name":"mail","pkce_enabled":false}`, nil},
		// Defaults are applied where the provider is used, never stored:
		// the config reads back as written (Terraform compares the two).
		{"ok/oidc replacement without a secret", `{"type":"oidc","config":{"client_id":"c","issuer_url":"https://i.test"}}`, false,
			`{"client_id":"c","issuer_url":"https://i.test"}`, nil},
		{"ok/onetimepin", `{"type":"onetimepin","config":{}}`, true, `{}`, nil},
		{"ok/onetimepin without config", `{"type":"onetimepin"}`, true, `{}`, nil},
		{"fail/oidc without client", `{"type":"oidc","config":{"issuer_url":"https://i.test"}}`, true, "",
			[]string{"config.client_id", "config.client_secret"}},
		{"fail/oidc without endpoints", `{"type":"oidc","config":{"client_id":"c","client_secret":"s"}}`, true, "", []string{"config.issuer_url"}},
		{"fail/oidc with one endpoint", `{"type":"oidc","config":{"client_id":"c","client_secret":"s","auth_url":"https://i.test/a"}}`, true, "",
			[]string{"config.certs_url", "config.token_url"}},
		{"fail/oidc with issuer and endpoints", `{"type":"oidc","config":{"client_id":"c","client_secret":"s","issuer_url":"https://i.test",` + endpoints + `}}`, true, "",
			[]string{"config.issuer_url"}},
		{"fail/oidc scopes without openid", `{"type":"oidc","config":{"client_id":"c","client_secret":"s","issuer_url":"https://i.test","scopes":["email"]}}`, true, "",
			[]string{"config.scopes"}},
		{"fail/onetimepin with settings", `{"type":"onetimepin","config":{"client_id":"c","pkce_enabled":false,"scopes":["openid"]}}`, true, "",
			[]string{"config.client_id", "config.pkce_enabled", "config.scopes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var spec IdentityProviderSpec
			if err := json.Unmarshal([]byte(tc.spec), &spec); err != nil {
				t.Fatal(err)
			}
			err := spec.Normalize(tc.secretRequired)
			if tc.fields != nil {
				var got []string
				if e, ok := err.(*Error); ok && e.Kind == EInvalid {
					for _, f := range e.Fields {
						got = append(got, f.Field)
					}
				}
				if !slices.Equal(got, tc.fields) {
					t.Fatalf("fields %q, want %q (err %v)", got, tc.fields, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(spec.Config.Public())
			var a, b any
			_ = json.Unmarshal(got, &a)
			_ = json.Unmarshal([]byte(tc.want), &b)
			ga, _ := json.Marshal(a)
			gb, _ := json.Marshal(b)
			if string(ga) != string(gb) {
				t.Fatalf("stored config %s, want %s", got, tc.want)
			}
		})
	}
}

func TestIdPConfigPublicHasNoSecret(t *testing.T) {
	c := IdPConfigSpec{ClientID: "c", ClientSecret: "the-secret", IssuerURL: "https://i.test"}
	b, err := json.Marshal(c.Public())
	if err != nil || string(b) != `{"client_id":"c","issuer_url":"https://i.test"}` {
		t.Fatalf("Public() = %s, %v", b, err)
	}
}
