package pages

import (
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// BlockSentence says in words, to the person refused, why a request was
// denied: one sentence per reason the engine gives for a denial, and the
// engine's own description for any other.
func BlockSentence(r policy.Reason) string {
	switch r {
	case policy.ReasonNoPolicyMatched:
		return "Your account is not among those allowed into this application. If you think it should be, ask the application's administrator for access, or sign in with another account."
	case policy.ReasonDenyPolicy:
		return "A rule of this application refuses this account, or the network or country you are connecting from."
	case policy.ReasonPolicyMissing:
		return "This application is misconfigured (it refers to an access policy that does not exist), so nobody can get in. Tell its administrator."
	case policy.ReasonServiceTokenNoPolicy:
		return "The service token sent with this request is not allowed into this application."
	case policy.ReasonPurposeJustificationRequired:
		return "This application asks why you need access. Sign in again and give a reason."
	}
	d := r.Describe()
	if d == "" {
		return "Access was refused."
	}
	return strings.ToUpper(d[:1]) + d[1:] + "."
}
