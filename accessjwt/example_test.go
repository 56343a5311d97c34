package accessjwt_test

import (
	"fmt"
	"log"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/accessjwt"
)

// An origin that serves only requests that came through Gatehouse.
func ExampleVerifier_Middleware() {
	v := accessjwt.NewVerifier(
		"https://auth.example.com/cdn-cgi/access/certs",
		"4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2", // the app's aud tag
		accessjwt.WithIssuer("https://auth.example.com"),
	)
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := accessjwt.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello, %s\n", claims.Email)
	})
	log.Fatal(http.ListenAndServe(":8080", v.Middleware(hello)))
}
