// Package containertest runs the historia container image against a
// PostgreSQL container on a private Docker network: a smoke scenario
// over HTTP (migrate, users, login per role, each role's page) and a
// database outage under write traffic. Its tests need a Docker engine and
// the two images (see TestMain); under CI=true a missing engine fails.
//
// TestCitusCompose also runs compose.citus.yaml end to end through
// citus-demo.sh (a Citus coordinator and two workers, the node
// registration, migrate, distribute, the server, a demo hospital), from a
// scratch copy of the deploy files. It needs Compose ("docker compose" or
// docker-compose) and the Citus image HISTORIA_TEST_CITUS_IMAGE (default
// historia/citus:13-pg15, built by internal/pgimage/build-citus.sh; never
// pulled); under CI=true a missing one fails it, elsewhere it is skipped.
//
//	cd refserver && HISTORIA_TEST_PG_IMAGE=historia/postgres:15-bookworm go test -count=1 ./deploy/containertest/
package containertest
