// Package loadgen is the load driver of `historia load`: it signs in as
// the demo users, finds the demo hospital's patients and practitioners
// through the JSON API, then runs virtual users against a running
// server for a duration or a number of requests, and reports, per
// endpoint, the count, the throughput, the latency percentiles (p50, p95,
// p99, from a log-linear histogram) and the errors by status, with the
// server's memory and connection-pool use read from its Prometheus
// metrics.
//
// # The mix
//
// Each virtual user loops without pause (a closed loop; Config.Think adds
// one), sending the next request of a schedule the users share: the
// actions of every role, each weighted by its role's weight (Config.Mix)
// times its share of the role, dealt by smooth weighted round robin, so
// that the proportions hold over any stretch of the run and every action
// comes round within one cycle of the weights. The actions and their
// shares:
//
//   - medico: its patients' chart as JSON (GET
//     /api/v1/patients/{id}/chart, 4), the chart page (GET
//     /medico/pacientes/{id}, 3), its list of patients (GET
//     /api/v1/my-patients, 1), a signed note (POST
//     /api/v1/patients/{id}/notes, 1);
//   - admisionista: a patient search by a name prefix (GET
//     /api/v1/patients?name=, 4), a patient registration (POST
//     /api/v1/patients, 1);
//   - secretaria: a practitioner's week (GET /api/v1/appointments, 3), the
//     front desk's page (GET /secretaria, 1);
//   - paciente: the portal's own chart (GET /api/v1/patients/{id}/chart,
//     2) and portal page (GET /paciente/{id}, 1).
//
// The virtual users acting as one role share that demo user's session
// (one login per demo user, renewed before its access token expires): the
// server sees one account per role with many requests at once. Writes are synthetic: notes say they come from a load test,
// patients are registered as "Carga Prueba" with a document of type
// CARGA; no personal data is written, logged or reported (ids only).
//
// # The comparison
//
// With Config.Baseline the run adds phases that compare the chart alone:
// Historia's GET /api/v1/patients/{id}/chart as the medico and the
// baseline server (package baseline: the same SQL, no auth, no rbac, no
// audit) on the same patients, with the same concurrency and duration,
// one after the other, so they never share the CPU.
//
// The driver refuses a target outside the loopback addresses unless
// Config.AllowRemote is set: a load test is pointed at a server of one's
// own, never at one in use by accident.
package loadgen
