// Package casbinbench compares Historia's rbac engine with casbin v2 on the
// same policy and the same requests. It is its own module so that casbin
// never enters the library's go.mod.
//
// The casbin side expresses the default policy of design.md §3 as RBAC with
// domains (a domain is a tenant) in testdata/model.conf and
// testdata/policy.csv; the conditions (own record, care team, break-glass
// grant) are a matcher function over request attributes. TestAgreement
// checks that both engines decide every request alike; BenchmarkCompare
// runs each request kind through both:
//
//	cd bench/casbin && go test -run '^$' -bench Compare -benchmem -count 5 .
package casbinbench
