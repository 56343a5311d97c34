package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/zero_trust"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// certKIDs are the kids an edge's certs endpoint publishes.
func certKIDs(t *testing.T, e *gatehousetest.Edge) []string {
	t.Helper()
	resp, body := e.Do(t, e.Request(t, "GET", "any.example.test", "/cdn-cgi/access/certs", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("certs: %d %s", resp.StatusCode, body)
	}
	var certs struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &certs); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range certs.Keys {
		out = append(out, k.KID)
	}
	return out
}

// Rotating over the API makes a running edge sign with a new key, which
// its certs endpoint publishes beside the previous one; the settings
// round-trip and bad input names the field.
func TestAccessKeysRotateOverTheAPI(t *testing.T) {
	t.Parallel()
	st := gatehousetest.Store(t)
	a := gatehousetest.NewAPIOn(t, st, api.WithKeyStore(gatehousetest.KeyStore(st), 0))
	ed := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: st})
	before := ed.Loader.State().Keys.CurrentKID()

	var keys access.KeyStatus
	a.MustCall(t, "GET", "access/keys", nil, &keys)
	if keys.KeyRotationIntervalDays != access.DefaultKeyRotationDays || keys.LastKeyRotationAt.IsZero() || keys.DaysUntilNextRotation <= 0 {
		t.Errorf("GET access/keys: %+v", keys)
	}
	a.MustCall(t, "POST", "access/keys/rotate", nil, &keys)
	if time.Since(keys.LastKeyRotationAt) > time.Minute {
		t.Errorf("after rotate: %+v", keys)
	}
	ed.Sync(t, st)
	after := ed.Loader.State().Keys.CurrentKID()
	if after == before {
		t.Fatalf("the edge still signs with %s", before)
	}
	if kids := certKIDs(t, ed); !slices.Contains(kids, after) || !slices.Contains(kids, before) {
		t.Errorf("certs publish %v, want the new %s and the previous %s", kids, after, before)
	}
	if resp := a.Call(t, "POST", "access/keys/rotate", nil); resp.Status != http.StatusConflict {
		t.Errorf("a second rotation within a minute: %d %s", resp.Status, resp.Body)
	}
	if resp := a.Do(t, gatehousetest.Request{Method: "POST", Path: "access/keys/rotate", Token: a.ReadOnlyToken}); resp.Status != http.StatusForbidden {
		t.Errorf("read-only rotate: %d", resp.Status)
	}

	// Cloudflare's SDK sets the period.
	cf := cloudflare.NewClient(option.WithBaseURL(a.URL+"/client/v4/"), option.WithAPIToken(a.Token), option.WithMaxRetries(0), option.WithHTTPClient(a.HTTPClient()))
	got, err := cf.ZeroTrust.Access.Keys.Update(context.Background(), zero_trust.AccessKeyUpdateParams{AccountID: cloudflare.F(a.AccountID), KeyRotationIntervalDays: cloudflare.F(90.0)})
	if err != nil {
		t.Fatal(err)
	}
	if got.KeyRotationIntervalDays != 90 {
		t.Errorf("SDK update: %+v", got)
	}
	for _, body := range []string{`{"key_rotation_interval_days": 20}`, `{"key_rotation_interval_days": 366}`, `{"key_rotation_interval_days": 30.5}`,
		`{"key_rotation_interval_days": "30"}`, `{}`, `{"key_rotation_interval_days": 30, "extra": 1}`} {
		resp := a.Do(t, gatehousetest.Request{Method: "PUT", Path: "access/keys", Body: []byte(body)})
		if resp.Status != 400 || len(resp.Fields()) != 1 {
			t.Errorf("%s: %d %s", body, resp.Status, resp.Body)
		}
	}
	a.MustCall(t, "GET", "access/keys", nil, &keys)
	if keys.KeyRotationIntervalDays != 90 {
		t.Errorf("refused writes changed the period: %+v", keys)
	}
	_, other, _ := gatehousetest.NewAccount(t, st)
	if resp := a.Do(t, gatehousetest.Request{Method: "GET", Path: "access/keys", Token: other}); resp.Status != 404 {
		t.Errorf("another account's token: %d", resp.Status)
	}

	// Without a key store (an API without the master key) rotation is
	// refused, not faked.
	b := gatehousetest.NewAPIOn(t, st)
	if resp := b.Call(t, "POST", "access/keys/rotate", nil); resp.Status != http.StatusServiceUnavailable {
		t.Errorf("rotate without a key store: %d %s", resp.Status, resp.Body)
	}
}

// key_rotation_interval_days drives the keyring: with an account asking
// for 21 days, a key 22 days old rotates though the installation's period
// is six weeks.
func TestKeyRotationIntervalDrivesTheKeyring(t *testing.T) {
	t.Parallel()
	url := gatehousetest.NewDatabase(t)
	if err := store.MigrateUp(url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), url, store.WithMasterKey(gatehousetest.MasterKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	clock := gatehousetest.NewClock(time.Now())
	ks := session.NewKeyStore(st, gatehousetest.MasterKey, session.WithClock(clock.Now))
	a := gatehousetest.NewAPIOn(t, st, api.WithKeyStore(ks, session.DefaultRotationInterval))
	ctx := context.Background()
	if _, err := ks.Load(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(22 * 24 * time.Hour)
	if rotated, err := ks.RotateIfDue(ctx, session.DefaultRotationInterval); err != nil || rotated {
		t.Fatalf("22 days with no account asking: rotated %v, %v", rotated, err)
	}
	a.MustCall(t, "PUT", "access/keys", map[string]any{"key_rotation_interval_days": 21}, nil)
	if rotated, err := ks.RotateIfDue(ctx, session.DefaultRotationInterval); err != nil || !rotated {
		t.Fatalf("22 days with an account asking for 21: rotated %v, %v", rotated, err)
	}
	var keys access.KeyStatus
	a.MustCall(t, "GET", "access/keys", nil, &keys)
	if keys.KeyRotationIntervalDays != 21 || !keys.LastKeyRotationAt.Equal(clock.Now().UTC().Truncate(time.Microsecond)) {
		t.Errorf("GET access/keys: %+v (clock %v)", keys, clock.Now())
	}
}
