// Package browsertest drives the reference server's pages in a real,
// headless Chromium, as each role would use them: the admission clerk
// registers and admits a patient, then transfers and discharges one; the
// physician reads the vital-signs chart, records vitals and writes a
// note; the front desk books an appointment and finds it in the agenda;
// the patient reads the note and sees the physician in "who viewed my
// record". It also checks the language switch, logout, and that signing
// in and out works without JavaScript. Every page must load its
// stylesheet and raise no script error or Content-Security-Policy
// violation.
//
// The package holds only tests. Each test starts the server in process,
// over TLS (the session cookies carry the __Host- prefix, which browsers
// accept only on a secure origin), on a fresh database from
// ehr/ehrtest seeded with the demo hospital. One browser serves the whole
// test binary; each test gets a new tab in its own browser context, so no
// cookie leaks from one test to the next.
//
//	cd refserver && go test ./browsertest/
//
// Chromium is found through HISTORIA_CHROMIUM, else chromium,
// chromium-browser or google-chrome on PATH. Without it the tests are
// skipped, or fail under CI=true. A full-page screenshot is saved after
// each step under testdata/artifacts/<test>/ (HISTORIA_ARTIFACTS_DIR
// overrides the directory); the tests log the paths.
package browsertest
