// Package pages holds the role pages of the reference server, one file
// per page (the page's handlers, its forms and the view model it
// builds), rendered with package views:
//
//	portal.go        /paciente/{id}   the patient's own chart (and .../seccion/{section}, the rest of a section)
//	medico.go        /medico          the physician's patients and search
//	chart.go         /medico/pacientes/{id}/...  the chart (bounded), its forms and .../seccion/{section}
//	admisionista.go  /admisionista/...  registration, admissions, care team
//	secretaria.go    /secretaria/...  the agenda
//	admin.go         /admin/...       user accounts
//	auditor.go       /auditor/...     audit search and chain verification
//
// Mount registers them on the router behind their role. A handler reads
// and writes through ehr with the caller's context, calls app's use
// cases, re-renders a form with its field errors (web.FormErrors) and
// returns any other error to the router, which answers it through the
// error table.
package pages
