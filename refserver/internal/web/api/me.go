package api

import (
	"net/http"

	"github.com/historiaehr/historia/refserver/internal/app"
	"github.com/historiaehr/historia/refserver/internal/web"
)

func (x *api) routesMe() {
	x.handle("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request, c app.Caller) error {
		web.JSON(w, http.StatusOK, map[string]any{"user_id": c.UserID, "tenant_id": c.TenantID, "roles": c.Roles,
			"patient_id": c.PatientID, "home": web.Home(c)})
		return nil
	})
}
