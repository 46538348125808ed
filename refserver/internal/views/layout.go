package views

import (
	"context"
	"net/url"
	"strconv"

	"github.com/historiaehr/historia/refserver/internal/i18n"
	"github.com/historiaehr/historia/refserver/internal/static"
)

// Page is what the layout needs about the page being rendered.
type Page struct {
	// TitleKey is the catalog key of the page title.
	TitleKey string
	// User is the signed-in user, nil on the login and error pages.
	User *User
	// Path is the current path with its query, the target of the language
	// switch.
	Path string
	// Nav are the links of the main navigation, already filtered to what
	// the user may see.
	Nav []NavItem
	// Flash is a catalog key of a one-time message (saved, ...), or "".
	Flash string
	// IdleSeconds, when positive, lets scripts.js return to the login page
	// after that long without activity (the server enforces it anyway).
	IdleSeconds int
}

// User is the signed-in user as the header shows them.
type User struct {
	Name     string
	Role     string
	Hospital string
}

// NavItem is one link of the main navigation.
type NavItem struct {
	Href    string
	TextKey string
	Current bool
}

func t(ctx context.Context, key string, args ...any) string { return i18n.T(ctx, key, args...) }

func lang(ctx context.Context) string { return string(i18n.FromContext(ctx)) }

func asset(name string) string { return static.Path(name) }

func langHref(l i18n.Lang, next string) string {
	return "/lang/" + string(l) + "?next=" + url.QueryEscape(next)
}

func isLang(ctx context.Context, l i18n.Lang) bool { return i18n.FromContext(ctx) == l }

func roleKey(role string) string { return "role." + role }

func itoa(i int) string { return strconv.Itoa(i) }
