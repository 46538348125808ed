package views

// HistoryData is the version history of a note.
type HistoryData struct {
	PatientID string
	NoteID    string
	Versions  []VersionView
}

// VersionView is one version of a note in its history.
type VersionView struct {
	Version             int
	At, By, Reason      string
	Status, Title, Body string
}
