package access

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzOrganizationSpec: any organization body that decodes is stored as
// a fixed point: normalised, encoded (as the store keeps it) and decoded
// again, it is the same settings, so what GET returns is what was stored.
// Checking it for unsupported values never panics.
func FuzzOrganizationSpec(f *testing.F) {
	for _, s := range []string{
		`{"name":"Example","auth_domain":"team.example.test","session_duration":"12h"}`,
		`{"login_design":{},"mfa_config":{},"custom_pages":{"forbidden":""},"deny_unmatched_requests_exempted_zone_names":[]}`,
		`{"login_design":{"background_color":"#fff","logo_path":"https://l.test/a.png"},"mfa_config":null}`,
		`{"mfa_ssh_piv_key_requirements":{"pin_policy":"always"},"is_ui_read_only":true}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var o OrganizationSpec
		if dec.Decode(&o) != nil {
			return
		}
		_ = CheckSupported(&o)
		o.Normalize()
		stored, err := json.Marshal(o)
		if err != nil {
			return // a raw MFA value that is not valid JSON on its own
		}
		var back OrganizationSpec
		if err := json.Unmarshal(stored, &back); err != nil {
			t.Fatalf("stored %s does not decode: %v", stored, err)
		}
		back.Normalize()
		again, err := json.Marshal(back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(stored, again) {
			t.Fatalf("not a fixed point:\n%s\n%s", stored, again)
		}
		if !reflect.DeepEqual(back.LoginDesign, o.LoginDesign) || back.SessionDuration != o.SessionDuration {
			t.Fatalf("settings changed: %+v, was %+v", back, o)
		}
	})
}
