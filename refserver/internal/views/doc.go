// Package views holds the server's templ components and their view
// models: one layout (the original base.html) and, for each page, a
// .templ file with its components beside a .go file with its model
// (portal, medico, chart, history, admisionista, secretaria, admin,
// auditor, login, error); components shared by several pages are in
// patient, form, appointment and vitals (the SVG chart of vital signs).
// Components take these models, never database or library types, and
// translate every text through i18n.T with the request's context.
package views
