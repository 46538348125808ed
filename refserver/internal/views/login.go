package views

import "github.com/a-h/templ"

// loginErrorAttrs ties the sign-in fields to the error shown above them,
// and marks them invalid after refused credentials.
func loginErrorAttrs(errorKey string) templ.Attributes {
	a := templ.Attributes{}
	if errorKey != "" {
		a["aria-describedby"] = "login-error"
	}
	if errorKey == "login.failed" {
		a["aria-invalid"] = "true"
	}
	return a
}
