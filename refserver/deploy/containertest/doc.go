// Package containertest runs the historia container image against a
// PostgreSQL container on a private Docker network: a smoke scenario
// over HTTP (migrate, users, login per role, each role's page) and a
// database outage under write traffic. Its tests need a Docker engine and
// the two images (see TestMain); under CI=true a missing engine fails.
package containertest
