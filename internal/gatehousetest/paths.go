package gatehousetest

// PathOutcome is what the edge does with a request path on a host with a
// bypass app on the whole host and a protected app on /admin.
type PathOutcome string

// Outcomes of PathForms.
const (
	// PathAdmin: handled as the /admin app's request (login, 401, 403);
	// never forwarded to the host app's origin.
	PathAdmin PathOutcome = "admin"
	// PathPublic: forwarded to the host app's origin, as Forwarded.
	PathPublic PathOutcome = "public"
	// PathRefused: 400, forwarded to no origin.
	PathRefused PathOutcome = "refused"
)

// PathForm is one request path (as sent on the request line) and its
// outcome with a bypass app on HOST and a protected app on HOST/admin.
type PathForm struct {
	Path string
	Want PathOutcome
	// Forwarded is the path the host app's origin receives for
	// PathPublic ("" for Path itself).
	Forwarded string
	Why       string
}

// PathForms are the request-path forms of README "Request paths": the
// edge and the engine are both tested with them.
var PathForms = []PathForm{
	// Forms every origin reads as /admin: handled as the admin app's.
	{Path: "/admin", Want: PathAdmin},
	{Path: "/admin/", Want: PathAdmin},
	{Path: "/admin/x", Want: PathAdmin},
	{Path: "/admin?x=1", Want: PathAdmin, Why: "the query is not part of the path"},
	{Path: "//admin", Want: PathAdmin, Why: "slashes merged"},
	{Path: "///admin//x", Want: PathAdmin, Why: "slashes merged"},
	{Path: "/./admin", Want: PathAdmin, Why: "dot segment resolved"},
	{Path: "/public/../admin", Want: PathAdmin, Why: "dot segment resolved"},
	{Path: "/x/./../admin", Want: PathAdmin},
	{Path: "/../admin", Want: PathAdmin, Why: ".. stops at the root"},
	{Path: "/%2e/admin", Want: PathAdmin, Why: "%2e is an unreserved dot"},
	{Path: "/%2e%2e/admin", Want: PathAdmin},
	{Path: "/public/%2e%2e/admin", Want: PathAdmin},
	{Path: "/public/%2E%2E/admin", Want: PathAdmin},
	{Path: "/public/.%2e/admin", Want: PathAdmin},
	{Path: "/admin/%2e%2e/%2e%2e/admin", Want: PathAdmin},
	{Path: "/admin/x/../y", Want: PathAdmin},
	{Path: "/adm%69n", Want: PathAdmin, Why: "%69 is an unreserved i"},
	{Path: "/%61%64%6d%69%6e", Want: PathAdmin},
	{Path: "/admin/x;y", Want: PathAdmin, Why: "every reading stays under /admin"},
	{Path: "/admin/x%2fy", Want: PathAdmin},

	// Forms some origin reads as /admin while the canonical path is not:
	// refused.
	{Path: "/ADMIN", Want: PathRefused, Why: "case-insensitive file systems"},
	{Path: "/Admin", Want: PathRefused},
	{Path: "/aDmIn/x", Want: PathRefused},
	{Path: "/ADMIN/", Want: PathRefused},
	{Path: "/%41dmin", Want: PathRefused, Why: "%41 decodes to A"},
	{Path: "/admin;x", Want: PathRefused, Why: "servlet path parameters"},
	{Path: "/admin;jsessionid=1/x", Want: PathRefused},
	{Path: "/admin%3bx", Want: PathRefused, Why: "an encoded ; decoded before parameters are cut"},
	{Path: "/..;/admin", Want: PathRefused, Why: "Tomcat reads ..; as .."},
	{Path: "/x/..;/admin", Want: PathRefused},
	{Path: "/public/..;/admin", Want: PathRefused},
	{Path: "/admin.", Want: PathRefused, Why: "Windows drops trailing dots"},
	{Path: "/admin./x", Want: PathRefused},
	{Path: "/admin..", Want: PathRefused},
	{Path: "/admin%2e", Want: PathRefused},
	{Path: "/admin%2e%2e", Want: PathRefused},
	{Path: "/admin%20", Want: PathRefused, Why: "Windows drops trailing spaces"},
	{Path: "/admin%20/x", Want: PathRefused},
	{Path: "/ADMIN%20", Want: PathRefused},
	{Path: "/admin::$DATA", Want: PathRefused, Why: "an NTFS stream of /admin"},
	{Path: "/admin:stream", Want: PathRefused},
	{Path: "/admin%3a$DATA", Want: PathRefused},
	{Path: `/\admin`, Want: PathRefused, Why: "backslash read as slash"},
	{Path: `/public\..\admin`, Want: PathRefused},
	{Path: `/public/..\admin`, Want: PathRefused},
	{Path: "/%5cadmin", Want: PathRefused},
	{Path: "/%5Cadmin", Want: PathRefused},
	{Path: "/public/..%5cadmin", Want: PathRefused},
	{Path: "/admin%5c", Want: PathRefused},
	{Path: "/%2fadmin", Want: PathRefused, Why: "an encoded slash decoded"},
	{Path: "/public%2f..%2fadmin", Want: PathRefused},
	{Path: "/public%2F..%2Fadmin", Want: PathRefused},
	{Path: "/public/..%2fadmin", Want: PathRefused},
	{Path: "/%2e%2e%2fadmin", Want: PathRefused},
	{Path: "/admin%2f", Want: PathRefused},
	{Path: "/admin/..%2f", Want: PathRefused, Why: "decoded, it is / (the host app's): readings disagree"},
	{Path: "/%252e%252e/admin", Want: PathRefused, Why: "double decoding"},
	{Path: "/%2561dmin", Want: PathRefused},
	{Path: "/admin%252f", Want: PathRefused},
	{Path: "/admin%23x", Want: PathRefused, Why: "a decoded # ends the path"},
	{Path: "/admin%3fx", Want: PathRefused, Why: "a decoded ? ends the path"},
	{Path: "/%EF%BD%81%EF%BD%84%EF%BD%8D%EF%BD%89%EF%BD%8E", Want: PathRefused, Why: "full-width letters (NFKC)"},
	{Path: "/adm%C4%B1n", Want: PathRefused, Why: "dotless i upper-cases to I"},
	{Path: "/admin%00", Want: PathRefused, Why: "NUL"},
	{Path: "/admin%00.html", Want: PathRefused},
	{Path: "/admin%0a", Want: PathRefused, Why: "control character"},
	{Path: "/admin%09", Want: PathRefused},
	{Path: "/admin%7f", Want: PathRefused},
	{Path: "/%c0%ae%c0%ae/admin", Want: PathRefused, Why: "overlong UTF-8 dots"},
	{Path: "/%c0%afadmin", Want: PathRefused, Why: "overlong UTF-8 slash"},
	{Path: "/admin%ff", Want: PathRefused, Why: "not UTF-8"},

	// Forms no reading takes to /admin: the host app's.
	{Path: "/", Want: PathPublic},
	{Path: "/administrator", Want: PathPublic},
	{Path: "/admins", Want: PathPublic},
	{Path: "/admin-panel", Want: PathPublic},
	{Path: "/adminX", Want: PathPublic},
	{Path: "/public/admin-guide", Want: PathPublic},
	{Path: "/public/admin", Want: PathPublic},
	{Path: "/x/admin", Want: PathPublic},
	{Path: "/Public/Readme", Want: PathPublic, Why: "case only matters where it changes the app"},
	{Path: "/admin/..", Want: PathPublic, Forwarded: "/", Why: "resolved before matching, forwarded resolved"},
	{Path: "/public/./a//b", Want: PathPublic, Forwarded: "/public/a/b"},
	{Path: "/p%61th", Want: PathPublic, Forwarded: "/path"},
	{Path: "/a%2fb", Want: PathPublic, Forwarded: "/a%2Fb", Why: "an encoded slash is kept encoded"},
	{Path: "/caf%c3%a9", Want: PathPublic, Forwarded: "/caf%C3%A9"},
	{Path: "/file;v=1", Want: PathPublic},
	{Path: "/x%20y", Want: PathPublic, Forwarded: "/x%20y"},
}
