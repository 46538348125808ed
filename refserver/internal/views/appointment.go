package views

// AppointmentView is an appointment in an agenda or a patient's list.
type AppointmentView struct {
	ID, PatientID, Patient, Practitioner string
	Date, Start, End, Status, Reason     string
	Minutes, Version                     int
}
