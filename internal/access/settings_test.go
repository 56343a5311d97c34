package access

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// jsonFields lists the JSON paths of t's fields: nested objects are
// walked to their leaves, except types that decode themselves.
func jsonFields(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			out = append(out, jsonFields(f.Type, prefix)...)
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(reflect.TypeFor[json.Unmarshaler]()) &&
			ft.PkgPath() == reflect.TypeFor[AppSpec]().PkgPath() {
			out = append(out, jsonFields(ft, prefix+name+".")...)
			continue
		}
		out = append(out, prefix+name)
	}
	return out
}

func TestInventoryCoversEveryField(t *testing.T) {
	for _, r := range Inventory {
		var listed []string
		for _, s := range r.Settings {
			if slices.Contains(listed, s.Field) {
				t.Errorf("%s: %s is listed twice", r.Name, s.Field)
			}
			listed = append(listed, s.Field)
			if s.Note == "" {
				t.Errorf("%s: %s has no note", r.Name, s.Field)
			}
			if (s.Class == Unsupported) != (s.set != nil) {
				t.Errorf("%s: %s: only an unsupported setting has (and must have) a test for being set", r.Name, s.Field)
			}
		}
		fields := jsonFields(r.Body, "")
		for _, f := range fields {
			if !slices.Contains(listed, f) {
				t.Errorf("%s: field %s is not classified in Inventory", r.Name, f)
			}
		}
		for _, f := range listed {
			if !slices.Contains(fields, f) {
				t.Errorf("%s: Inventory lists %s, which the body does not have", r.Name, f)
			}
		}
	}
}

// TestInventoryNamesTestsThatExist keeps the notes honest: every test an
// enforced setting points to is defined somewhere in the module.
func TestInventoryNamesTestsThatExist(t *testing.T) {
	defined := map[string]bool{}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range regexp.MustCompile(`(?m)^func (Test\w+)\(`).FindAllSubmatch(b, -1) {
			defined[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Inventory {
		for _, s := range r.Settings {
			for _, name := range regexp.MustCompile(`\bTest\w+`).FindAllString(s.Note, -1) {
				if !defined[name] {
					t.Errorf("%s: %s points to %s, which no test file defines", r.Name, s.Field, name)
				}
			}
			if s.Class == Enforced && !strings.Contains(s.Note, "Test") {
				t.Errorf("%s: %s is enforced without a named test: %s", r.Name, s.Field, s.Note)
			}
		}
	}
}

func TestCheckSupportedRefusesOnlyNonDefaults(t *testing.T) {
	tests := []struct {
		name   string
		body   any
		fields []string
	}{
		{"ok/app defaults", &AppSpec{}, nil},
		{"ok/app metadata", &AppSpec{AppSettings: AppSettings{Tags: []string{"x"}, LogoURL: "https://l.test"}}, nil},
		{"fail/skip_interstitial", &AppSpec{AppSettings: AppSettings{SkipInterstitial: true}}, []string{"skip_interstitial"}},
		{"ok/policy defaults", &PolicySpec{PolicyExtras: PolicyExtras{ApprovalGroups: json.RawMessage(" [ ] ")}}, nil},
		{"ok/policy null groups", &PolicySpec{PolicyExtras: PolicyExtras{ApprovalGroups: json.RawMessage("null")}}, nil},
		{"ok/purpose", &PolicySpec{PolicyExtras: PolicyExtras{PurposeJustificationRequired: true, PurposeJustificationPrompt: "why?"}}, nil},
		{"fail/every policy extra", &PolicySpec{PolicyExtras: PolicyExtras{ApprovalGroups: json.RawMessage(`[{"email_addresses":["a@b.test"]}]`),
			ApprovalRequired: true, IsolationRequired: true}}, []string{"approval_groups", "approval_required", "isolation_required"}},
		{"ok/organization empty mfa", &OrganizationSpec{MFAConfig: json.RawMessage(" { } "), MFASSHPivKeyRequirements: json.RawMessage("null")}, nil},
		{"fail/organization mfa", &OrganizationSpec{MFAConfig: json.RawMessage(`{"session_duration":"1h"}`), MFARequiredForAllApps: true},
			[]string{"mfa_config", "mfa_required_for_all_apps"}},
		{"fail/token previous expiry on create", &ServiceTokenSpec{PreviousClientSecretExpiresAt: new(string)}, []string{"previous_client_secret_expires_at"}},
		{"ok/token previous expiry on update", &ServiceTokenUpdate{PreviousClientSecretExpiresAt: new(string)}, nil},
		{"ok/idp claims (kept for oidc rules)", &IdentityProviderSpec{Config: IdPConfigSpec{Claims: []string{"groups"}}}, nil},
		{"fail/group is_default", &GroupSpec{IsDefault: true}, []string{"is_default"}},
		{"ok/group defaults", &GroupSpec{}, nil},
		{"ok/other body", &struct{ X bool }{true}, nil},
		{"ok/nil", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSupported(tt.body)
			var got []string
			if e, ok := err.(*Error); ok {
				for _, f := range e.Fields {
					got = append(got, f.Field)
					if !strings.Contains(f.Message, "not supported") {
						t.Errorf("%s: message %q does not say it is not supported", f.Field, f.Message)
					}
				}
			} else if err != nil {
				t.Fatalf("error %v is not an *Error", err)
			}
			if !slices.Equal(got, tt.fields) {
				t.Errorf("refused %v, want %v", got, tt.fields)
			}
		})
	}
}

// TestREADMEListsEveryInventorySetting keeps README's "Enforced and
// refused settings" table the same as Inventory, row for row.
func TestREADMEListsEveryInventorySetting(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### Enforced and refused settings\n")
	if !ok {
		t.Fatal("README has no \"### Enforced and refused settings\" section")
	}
	section, _, _ = strings.Cut(section, "\n### ")
	for _, r := range Inventory {
		_, table, ok := strings.Cut(section, "\n**"+strings.ToUpper(r.Name[:1])+r.Name[1:]+"**\n")
		if !ok {
			t.Errorf("README has no table for %s", r.Name)
			continue
		}
		table, _, _ = strings.Cut(table, "\n\n**")
		table += "\n"
		for _, s := range r.Settings {
			if row := "| `" + s.Field + "` | " + string(s.Class) + " | " + s.Note + " |"; !strings.Contains(table, row+"\n") {
				t.Errorf("README's %s table lacks the row\n%s", r.Name, row)
			}
		}
	}
}
