package pages

import (
	"errors"
	"net/http"

	"github.com/historiaehr/historia/auth"
	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/views"
	"github.com/historiaehr/historia/refserver/internal/web"
)

// The account page (/cuenta), for every signed-in user: whether the
// second factor is on, the passkeys, and their enrolment (after a recent proof of the
// password: web.RecentAuth). The rules are auth's.

func (p *pages) routesAccount() {
	p.web.Handle("GET /cuenta", p.account)
	p.web.Handle("POST /cuenta/mfa", p.enrollTOTP)
	p.web.Handle("POST /cuenta/mfa/confirmar", p.confirmTOTP)
	p.web.Handle("POST /cuenta/passkey", p.passkeyReauth)
}

// account shows the account page.
func (p *pages) account(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	on, err := p.app.Auth.MFAEnrolled(r.Context(), c.TenantID, c.UserID)
	if err != nil {
		return err
	}
	pg := p.web.Layout(r, c, "account.title")
	d := views.AccountData{Username: pg.User.Name, MFAEnrolled: on, MFARequired: p.app.Auth.MFARequired(c.TenantID, c.Roles),
		PasskeysEnabled: p.app.Auth.PasskeysEnabled()}
	if d.PasskeysEnabled {
		pks, err := p.app.Auth.Passkeys(r.Context(), c.TenantID, c.UserID)
		if err != nil {
			return err
		}
		for _, pk := range pks {
			it := views.PasskeyItem{Created: pk.CreatedAt.UTC().Format(passkeyTime)}
			if pk.LastUsedAt != nil {
				it.LastUsed = pk.LastUsedAt.UTC().Format(passkeyTime)
			}
			d.Passkeys = append(d.Passkeys, it)
		}
	}
	p.web.Render(w, r, http.StatusOK, views.Account(pg, d))
	return nil
}

// enrollTOTP starts an enrolment: a new secret, shown once as a QR code
// and as text, and the form for the first code.
func (p *pages) enrollTOTP(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	if ok, err := p.web.RecentAuth(w, r); !ok {
		return err
	}
	if _, err := web.ParseForm(w, r); err != nil {
		return err
	}
	return p.enrollPage(w, r, c, "")
}

// enrollPage shows a new pending secret with errKey.
func (p *pages) enrollPage(w http.ResponseWriter, r *http.Request, c app.Caller, errKey string) error {
	id, _ := auth.FromContext(r.Context())
	en, err := p.app.Auth.EnrollTOTP(r.Context(), id)
	if errors.Is(err, auth.ErrConflict) {
		web.SeeOther(w, r, "/cuenta")
		return nil
	}
	if err != nil {
		return err
	}
	qr, err := web.QRDataURL(en.URI)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if errKey != "" {
		status = http.StatusUnprocessableEntity
	}
	p.web.Render(w, r, status, views.MFAEnroll(p.web.Layout(r, c, "mfa.enroll.title"),
		views.MFAEnrollData{Secret: en.Secret, QR: qr, Action: "/cuenta/mfa/confirmar", ErrorKey: errKey}))
	return nil
}

// confirmTOTP takes the first code: the second factor is on, and the
// recovery codes are shown once. A wrong code starts again with a new
// secret.
func (p *pages) confirmTOTP(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	f, err := web.ParseForm(w, r)
	if err != nil {
		return err
	}
	id, _ := auth.FromContext(r.Context())
	codes, err := p.app.Auth.ConfirmTOTP(r.Context(), id, f["otp"])
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials):
		return p.enrollPage(w, r, c, "mfa.enroll.again")
	case errors.Is(err, auth.ErrConflict):
		web.SeeOther(w, r, "/cuenta")
		return nil
	case err != nil:
		return err
	}
	p.web.Log().InfoContext(r.Context(), "second factor enrolled", "user_id", c.UserID)
	p.web.Render(w, r, http.StatusOK, views.RecoveryCodes(p.web.Layout(r, c, "mfa.codes.title"), codes, "/cuenta"))
	return nil
}

// passkeyTime is how the account page shows a passkey's dates (UTC).
const passkeyTime = "2006-01-02 15:04 UTC"

// passkeyReauth is where the "register a passkey" form posts when the
// ceremony (static/scripts.js) found the last proof of a factor too old,
// or without JavaScript: the re-authentication form, then back to the
// account page, where the button now works within web.ReauthWindow.
func (p *pages) passkeyReauth(w http.ResponseWriter, r *http.Request, c app.Caller) error {
	if ok, err := p.web.RecentAuth(w, r); !ok {
		return err
	}
	if _, err := web.ParseForm(w, r); err != nil {
		return err
	}
	web.SeeOther(w, r, "/cuenta#passkeys-title")
	return nil
}
