package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestEdgeCommandAsksForClientCertificates runs `gatehouse edge
// --tls-cert --tls-key` and reaches a Service Auth app with a client
// certificate, as a machine would.
func TestEdgeCommandAsksForClientCertificates(t *testing.T) {
	url := gatehousetest.NewDatabase(t)
	if err := store.MigrateUp(url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), url, store.WithMasterKey(gatehousetest.MasterKey))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := gatehousetest.NewAPIOn(t, st)
	origin := gatehousetest.StartOrigin(t)
	h := "mtls-" + gatehousetest.RunLabel(t) + ".example.test"
	ca := gatehousetest.NewTestCA(t)
	a.MustCall(t, "POST", "access/certificates", map[string]any{"name": "clients", "certificate": ca.PEM(), "associated_hostnames": []string{h}}, nil)
	a.CreateApp(t, h, origin.URL, nil, gatehousetest.Policy("mtls", "non_identity", gatehousetest.Rules(t, `{"certificate":{}}`)))

	certFile, keyFile, roots := writeLoopbackCert(t)
	edgeURL, stop := startEdgeCommand(t, map[string]string{"DATABASE_URL": url, "GATEHOUSE_EDGE_ADDR": "127.0.0.1:0",
		"GATEHOUSE_STATE_DIR": "off", "GATEHOUSE_TLS_CERT": certFile, "GATEHOUSE_TLS_KEY": keyFile,
		"GATEHOUSE_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="})
	defer stop()

	get := func(cert *tls.Certificate) int {
		cfg := &tls.Config{RootCAs: roots}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert} // sent only if the edge names its CA
		}
		tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, strings.TrimPrefix(edgeURL, "https://"))
			}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get("https://" + h + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	client := ca.ClientCert("deploy-bot")
	if code := get(&client); code != 200 {
		t.Errorf("with a client certificate: %d", code)
	}
	if code := get(nil); code != 401 {
		t.Errorf("without: %d", code)
	}
}
