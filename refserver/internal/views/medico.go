package views

// MedicoData is the physician's home: my patients and a search.
type MedicoData struct {
	Query    string
	Mine     []PatientRow
	Results  []PatientRow
	Searched bool
}
