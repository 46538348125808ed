package views

// ActivationIssued is the page that shows a patient's activation code,
// once, to the admissions desk that issued it.
type ActivationIssued struct {
	PatientID string
	Patient   string
	Code      string
	ExpiresAt string
}
