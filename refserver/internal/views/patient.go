package views

import "net/url"

// PatientRow is one patient in a list.
type PatientRow struct {
	ID        string
	Name      string
	Document  string
	BirthDate string
	Sex       string
}

// PatientDetail is a patient's demographics and contact data.
type PatientDetail struct {
	PatientRow
	Phone, Email, Address         string
	EmergencyName, EmergencyPhone string
	EmergencyRelationship, Status string
	Version                       int
}

// pickBase is the link prefix that picks a patient of a search for q on
// page path: the patient id is appended.
func pickBase(path, q string) string {
	return path + "?q=" + url.QueryEscape(q) + "&patient="
}
