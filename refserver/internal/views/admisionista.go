package views

// RegisterForm is the admission clerk's patient form, kept on a 422.
type RegisterForm struct {
	DocumentType, DocumentNumber, GivenNames, FamilyNames, BirthDate, Sex string
	Phone, Email, Address                                                 string
}

// AdmisionistaData is the admission clerk's page.
type AdmisionistaData struct {
	Form     RegisterForm
	Errors   FieldErrors
	Query    string
	Results  []PatientRow
	Searched bool
	Created  *PatientRow
	// Admissions are the open admissions; Practitioners the attending
	// physicians to choose from; Picked the patient chosen for the admit
	// and care-team forms.
	Admissions    []AdmissionView
	Practitioners []Option
	Picked        *PatientRow
	Action        Form
	ActionErrors  FieldErrors
	AlertKey      string
	Can           Can
}

// AdmissionView is an open admission.
type AdmissionView struct {
	ID, PatientID, Patient, Ward, Bed, Attending, AttendingID, Since string
	Version                                                          int
}
