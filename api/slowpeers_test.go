package api_test

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestUncredentialedBodyIsRefusedUnreadAndClosed: an API request that
// announces a body and never sends it is answered at once when it has no
// valid credentials (the body is never read), and the connection closed.
func TestUncredentialedBodyIsRefusedUnreadAndClosed(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	addr := gatehousetest.RawAddr(t, a.URL)
	path := "/client/v4/accounts/" + a.AccountID + "/access/apps"
	cases := []struct {
		name, head string
		status     int
	}{
		{"no token", "POST " + path + " HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n", 401},
		{"wrong token", "POST " + path + " HTTP/1.1\r\nAuthorization: Bearer ghat_0000\r\nContent-Type: application/json\r\nContent-Length: 100\r\n", 401},
		{"read-only token", "POST " + path + " HTTP/1.1\r\nAuthorization: Bearer " + a.ReadOnlyToken + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n", 403},
		{"chunked without token", "PUT " + path + "/x HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n", 401},
		{"no such route", "POST /client/v4/nowhere HTTP/1.1\r\nContent-Length: 100\r\n", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			res := gatehousetest.RawExchange(t, addr, tc.head+"Host: api.test\r\n\r\n", "api.test", 5*time.Second)
			if res.Status != tc.status || !res.Closed {
				t.Fatalf("status %d closed %v, want %d closed (%s)", res.Status, res.Closed, tc.status, res.Body)
			}
			t.Logf("answered and closed in %v", time.Since(start))
		})
	}
}
