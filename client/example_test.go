package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/gatehouse-dev/gatehouse/client"
)

// Give every service token whose name starts with "ci-" a 30-day
// lifetime, leaving alone any token someone changed since it was read.
func Example() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("GATEHOUSE_URL"), os.Getenv("GATEHOUSE_TOKEN"))
	if err != nil {
		log.Fatal(err)
	}
	acct := c.Account(os.Getenv("GATEHOUSE_ACCOUNT"))

	type token struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	tokens, err := client.ListAs[token](ctx, acct.ServiceTokens().Collection, nil) // every page
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range tokens {
		if !strings.HasPrefix(t.Name, "ci-") {
			continue
		}
		res, err := acct.ServiceTokens().Get(ctx, t.ID)
		if err != nil {
			log.Fatal(err)
		}
		_, err = acct.ServiceTokens().Update(ctx, t.ID, map[string]string{"duration": "720h"}, client.IfMatch(res.ETag()))
		var apiErr *client.APIError
		switch {
		case errors.Is(err, client.ErrPreconditionFailed):
			fmt.Printf("%s changed since it was read: skipped\n", t.Name)
		case errors.As(err, &apiErr): // refused (4xx) or failed (5xx)
			for _, e := range apiErr.Errors {
				fmt.Printf("%s: %d %s (field %q)\n", t.Name, e.Code, e.Message, e.Field)
			}
		case err != nil:
			log.Fatal(err) // a *client.NetworkError: no answer came
		default:
			fmt.Printf("%s now expires in 30 days\n", t.Name)
		}
	}
}
