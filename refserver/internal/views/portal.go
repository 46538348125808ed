package views

// PortalData is the patient portal: the chart read-only, the patient's
// appointments and who viewed the record.
type PortalData struct {
	Patient      PatientDetail
	Access       []AccessRow
	Chart        ChartData
	Appointments []AppointmentView
}

// AccessRow is one entry of "who viewed my record".
type AccessRow struct {
	At         string
	Who        string
	Role       string
	What       string
	BreakGlass bool
}
