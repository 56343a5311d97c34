package edge_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// tlsEnv is an env whose edge serves TLS, as `gatehouse edge --tls-cert`.
func newTLSEnv(t *testing.T) *env {
	t.Helper()
	a := gatehousetest.NewAPI(t)
	return &env{api: a, edge: gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, TLS: true}), origin: gatehousetest.StartOrigin(t)}
}

// tlsHost is a host name unique to the test that the TLS test edge's
// certificate covers (*.example.test).
func tlsHost(t *testing.T, name string) string {
	return name + "-" + gatehousetest.RunLabel(t) + ".example.test"
}

// mtlsClient is a client that reaches the TLS edge for any host, with
// serverName as its SNI ("" for the request's host) and presenting cert
// (nil: none) whatever CAs the edge names.
func mtlsClient(t *testing.T, e *env, serverName string, cert *tls.Certificate) *http.Client {
	t.Helper()
	_, roots := gatehousetest.LoopbackCert(t)
	edgeAddr := strings.TrimPrefix(e.edge.URL, "https://")
	cfg := &tls.Config{RootCAs: roots, ServerName: serverName}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	tr := &http.Transport{
		TLSClientConfig: cfg,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, edgeAddr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get sends GET https://host/ through c; it returns the status, or 0 when
// the connection failed.
func get(t *testing.T, c *http.Client, host string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "https://"+host+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Logf("GET %s: %v", host, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMutualTLSAtTheEdge(t *testing.T) {
	t.Parallel()
	e := newTLSEnv(t)
	ca, foreign, other := gatehousetest.NewTestCA(t), gatehousetest.NewTestCA(t), gatehousetest.NewTestCA(t)
	hCert, hCN, hOther := tlsHost(t, "cert"), tlsHost(t, "cn"), tlsHost(t, "other")
	var uploaded access.Certificate
	e.api.MustCall(t, "POST", "access/certificates", map[string]any{"name": "clients", "certificate": ca.PEM(),
		"associated_hostnames": []string{hCert, hCN}}, &uploaded)
	e.api.MustCall(t, "POST", "access/certificates", map[string]any{"name": "other", "certificate": other.PEM(),
		"associated_hostnames": []string{hOther}}, nil)
	appCert := e.app(t, hCert, nil, pol("mtls", "non_identity", rules(t, `{"certificate":{}}`)))
	e.app(t, hCN, nil, pol("billing only", "non_identity", rules(t, `{"common_name":{"common_name":"billing"}}`)))
	e.app(t, hOther, nil, pol("mtls", "non_identity", rules(t, `{"certificate":{}}`)))

	billing, payroll := ca.ClientCert("billing"), ca.ClientCert("payroll")
	foreignCert, otherCert := foreign.ClientCert("billing"), other.ClientCert("billing")
	withBilling := mtlsClient(t, e, "", &billing)

	t.Run("allowed with a certificate", func(t *testing.T) {
		forged := http.Header{"Cf-Client-Cert-Sha256": {"forged"}, "X-Forwarded-Client-Cert": {"Hash=forged"}, "Ssl-Client-Verify": {"SUCCESS"}}
		if status, body := get(t, withBilling, hCert, forged); status != 200 || body != "origin ok" {
			t.Fatalf("status %d %s", status, body)
		}
		got := e.origin.Last()
		claims, err := e.edge.Loader.State().Keys.Verify(got.Header.Get("Cf-Access-Jwt-Assertion"), appCert.AUD, e.edge.Issuer, time.Now())
		if err != nil || claims.CommonName != "billing" || claims.Email != "" {
			t.Errorf("assertion claims %+v, err %v", claims, err)
		}
		if fp := got.Header.Get("Cf-Client-Cert-Sha256"); fp != access.CertificateFingerprint(billing.Leaf.Raw) {
			t.Errorf("Cf-Client-Cert-Sha256 %q, want the verified leaf's", fp)
		}
		for _, h := range []string{"X-Forwarded-Client-Cert", "Ssl-Client-Verify"} {
			if v := got.Header.Get(h); v != "" {
				t.Errorf("the client's %s reached the origin: %q", h, v)
			}
		}
	})
	refused := func(t *testing.T, c *http.Client, host string) {
		t.Helper()
		n := len(e.origin.Requests())
		// The handshake succeeds: the request is refused, with a status
		// a script can read.
		if status, body := get(t, c, host, nil); (status != 401 && status != 403) || len(e.origin.Requests()) != n {
			t.Errorf("%s: status %d %s; origin reached: %v", host, status, body, len(e.origin.Requests()) != n)
		}
	}
	t.Run("refused without a certificate", func(t *testing.T) { refused(t, mtlsClient(t, e, "", nil), hCert) })
	t.Run("refused with a foreign CA", func(t *testing.T) { refused(t, mtlsClient(t, e, "", &foreignCert), hCert) })
	t.Run("CA not associated with the host", func(t *testing.T) { refused(t, mtlsClient(t, e, "", &otherCert), hCert) })
	t.Run("a certificate verified for another host's SNI", func(t *testing.T) {
		// The handshake is for hOther, whose CA signed the certificate;
		// the request is for hCert.
		refused(t, mtlsClient(t, e, hOther, &otherCert), hCert)
		if status, _ := get(t, mtlsClient(t, e, hOther, &otherCert), hOther, nil); status != 200 {
			t.Errorf("the certificate on its own host: %d", status)
		}
	})
	t.Run("common_name", func(t *testing.T) {
		if status, _ := get(t, withBilling, hCN, nil); status != 200 {
			t.Errorf("CN billing: %d", status)
		}
		refused(t, mtlsClient(t, e, "", &payroll), hCN)
	})
	t.Run("hostname removed", func(t *testing.T) {
		e.api.MustCall(t, "PUT", "access/certificates/"+uploaded.ID, map[string]any{"associated_hostnames": []string{hCN}}, nil)
		e.edge.Sync(t, e.api.Store)
		refused(t, withBilling, hCert) // the same connection: verified per request
		if status, _ := get(t, withBilling, hCN, nil); status != 200 {
			t.Errorf("still associated host: %d", status)
		}
	})
	t.Run("CA deleted", func(t *testing.T) {
		e.api.MustCall(t, "DELETE", "access/certificates/"+uploaded.ID, nil, nil)
		e.edge.Sync(t, e.api.Store)
		refused(t, withBilling, hCN)
		refused(t, mtlsClient(t, e, "", &billing), hCN)
	})
}

// TestMutualTLSRulesNeverMatchOnPlainHTTP: a plain-HTTP edge has no
// client certificate to verify.
func TestMutualTLSRulesNeverMatchOnPlainHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ca := gatehousetest.NewTestCA(t)
	h := host(t, "plain")
	e.api.MustCall(t, "POST", "access/certificates", map[string]any{"name": "c", "certificate": ca.PEM(), "associated_hostnames": []string{h}}, nil)
	e.app(t, h, nil, pol("mtls", "non_identity", rules(t, `{"certificate":{}}`)))
	req := e.edge.Request(t, "GET", h, "/", nil)
	req.Header.Set("Cf-Client-Cert-Sha256", "forged")
	if resp, body := e.edge.Do(t, req); resp.StatusCode == 200 || len(e.origin.Requests()) != 0 {
		t.Fatalf("plain HTTP: %d %s", resp.StatusCode, body)
	}
}

func TestOriginHostHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A virtual-hosted origin: it answers by the Host it is sent.
	seen := make(chan *http.Request, 1)
	vhosts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Clone(context.Background())
		switch strings.ToLower(r.Host) {
		case "internal.example:8080":
			io.WriteString(w, "internal site")
		default:
			if strings.HasSuffix(r.Host, ".test") {
				io.WriteString(w, "public site")
				return
			}
			io.WriteString(w, "default site")
		}
	}))
	t.Cleanup(vhosts.Close)
	origin, _ := url.Parse(vhosts.URL)
	bypass := pol("all", "bypass", rules(t, `{"everyone":{}}`))
	tests := []struct {
		name     string
		fields   map[string]any
		wantHost func(h string) string
		wantBody string
	}{
		{"default", nil, func(string) string { return origin.Host }, "default site"},
		{"preserve_host_header", map[string]any{"preserve_host_header": true}, func(h string) string { return h }, "public site"},
		{"http_host_header", map[string]any{"http_host_header": "Internal.Example:8080"}, func(string) string { return "internal.example:8080" }, "internal site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := host(t, "vhost")
			e.api.CreateApp(t, h, vhosts.URL, tt.fields, bypass)
			e.edge.Sync(t, e.api.Store)
			resp, body := e.edge.Do(t, e.edge.Request(t, "GET", h, "/", nil))
			if resp.StatusCode != 200 || body != tt.wantBody {
				t.Fatalf("status %d %q, want %q", resp.StatusCode, body, tt.wantBody)
			}
			r := <-seen
			if r.Host != tt.wantHost(h) || r.Header.Get("X-Forwarded-Host") != h {
				t.Errorf("origin got Host %q, X-Forwarded-Host %q", r.Host, r.Header.Get("X-Forwarded-Host"))
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		for _, f := range []map[string]any{
			{"preserve_host_header": true, "http_host_header": "a.example"},
			{"http_host_header": "a.example/path"},
			{"http_host_header": "a b"},
			{"http_host_header": "a.example:99999"},
			{"http_host_header": "user@a.example"},
		} {
			body := map[string]any{"type": "self_hosted", "name": "x", "domain": host(t, "bad"), "origin": vhosts.URL}
			for k, v := range f {
				body[k] = v
			}
			if resp := e.api.Call(t, "POST", "access/apps", body); resp.Status != 400 {
				t.Errorf("%v: %d %s", f, resp.Status, resp.Body)
			}
		}
	})
}
