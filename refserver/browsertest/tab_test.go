package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// EnvArtifacts overrides the directory of the screenshots
// (testdata/artifacts by default, ignored by git).
const EnvArtifacts = "HISTORIA_ARTIFACTS_DIR"

// tab is one browser tab of a test, in a browser context of its own (its
// own cookies), pointed at the test server.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string // the server's URL, https://127.0.0.1:port
	dir  string // where its screenshots go
	who  string // names the tab in its screenshots' file names
	n    int    // screenshots taken

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// openTab opens a tab on the shared browser for t, closed when t ends;
// who (the person using it) prefixes its screenshots. Without a browser t
// is skipped, or fails under CI=true.
func openTab(t *testing.T, base, who string) *tab {
	t.Helper()
	b := requireBrowser(t)
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	// The first Do creates the tab; as for the browser, its life follows
	// the context given, so the limit is enforced from outside.
	if err := within(stepTimeout, cancel, func() error { return chromedp.Do(ctx) }); err != nil {
		t.Fatalf("open tab: %v\nbrowser output:\n%s", err, b.output.String())
	}
	tb := &tab{t: t, ctx: ctx, base: base, dir: artifactsDir(t), who: who}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, m)
			tb.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel() // closes the tab and its browser context, bounded by chromedp
		<-done
		tb.checkConsole()
	})
	return tb
}

// requireBrowser returns the shared browser, starting it if need be.
// Without one t is skipped, or fails under CI=true.
func requireBrowser(t *testing.T) *browser {
	t.Helper()
	b, err := sharedChromium()
	if err != nil {
		if inCI() {
			t.Fatalf("browser unavailable under CI=true: %v", err)
		}
		t.Skipf("browser unavailable: %v", err)
	}
	return b
}

// checkConsole fails the test on an uncaught exception or a
// Content-Security-Policy violation in any page of the tab. Other console
// errors (the browser logs each 4xx answer, which the tests provoke) are
// logged when the test failed.
func (b *tab) checkConsole() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		switch {
		case m.IsException():
			b.t.Errorf("page exception at %s:%d: %s", m.URL, m.Line, m.Text)
		case strings.Contains(m.Text, "Content Security Policy"):
			b.t.Errorf("CSP violation on %s: %s", m.URL, m.Text)
		case m.Type == chromedp.ConsoleError && b.t.Failed():
			b.t.Logf("console %s (%s)", m, m.URL)
		}
	}
}

var cleared sync.Map // test name → its artefacts directory, emptied once

// artifactsDir returns the directory of t's screenshots, emptied of an
// earlier run's on first use.
func artifactsDir(t *testing.T) string {
	root := os.Getenv(EnvArtifacts)
	if root == "" {
		root = filepath.Join("testdata", "artifacts")
	}
	dir := filepath.Join(root, safeName(t.Name()))
	if _, done := cleared.LoadOrStore(t.Name(), dir); done {
		return dir
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	return dir
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string { return strings.Trim(unsafeChars.ReplaceAllString(s, "_"), "_") }

// step runs actions under the step time limit; a failure ends the test
// with what was being done and where.
func (b *tab) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// run runs one action that returns a value, under the step time limit.
func run[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// fail ends the test after a failed step, with a screenshot of the page.
func (b *tab) fail(what string, err error) {
	b.t.Helper()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: no such element, or the page did not load, within %s", err, stepTimeout)
	}
	b.shot("failed-" + what)
	b.t.Fatalf("%s: %v (at %s)", what, err, b.location())
}

// location returns the URL of the page, or "?".
func (b *tab) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	h, err := chromedp.Run(ctx, chromedp.NavigationEntries())
	if err != nil || h.CurrentIndex < 0 || int(h.CurrentIndex) >= len(h.Entries) {
		return "?"
	}
	return h.Entries[h.CurrentIndex].URL
}

// path returns the path and query of the page, relative to the server.
func (b *tab) path() string { return strings.TrimPrefix(b.location(), b.base) }

// open loads path and returns the HTTP status of the document.
func (b *tab) open(path string) int64 {
	b.t.Helper()
	res := run(b, "open "+path, chromedp.NavigateResponse(b.base+path))
	if res == nil {
		b.t.Fatalf("open %s: no response", path)
	}
	return res.Status
}

// submit clicks the element sel (a submit button), waits for the page
// that answers and returns its HTTP status (after redirects).
func (b *tab) submit(what, sel string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.fail(what, err)
	}
	if res == nil {
		b.t.Fatalf("%s: no response", what)
	}
	return res.Status
}

// follow clicks the link sel and waits for the page it leads to.
func (b *tab) follow(what, sel string) int64 { b.t.Helper(); return b.submit(what, sel) }

// fill sets the form fields named in values (name attribute → value)
// inside the form matched by form. It sets values directly, as a user's
// typing or picking would leave them; dates are YYYY-MM-DD, selects take
// an option's value.
func (b *tab) fill(form string, values map[string]string) {
	b.t.Helper()
	for name, v := range values {
		sel := fmt.Sprintf(`%s [name=%q]`, form, name)
		if !b.has(sel) {
			b.fail("fill "+name, fmt.Errorf("no field %s", sel))
		}
		b.step("fill "+name, chromedp.SetValue(chromedp.CSS(sel), v))
	}
}

// pick chooses, in the select sel, the option whose text contains label,
// and returns its value.
func (b *tab) pick(sel, label string) string {
	b.t.Helper()
	js := fmt.Sprintf(`(() => {
		const s = document.querySelector(%q);
		if (!s) return "";
		const o = [...s.options].find(o => o.textContent.includes(%q));
		if (!o) return "";
		s.value = o.value;
		s.dispatchEvent(new Event("change", {bubbles: true}));
		return o.value;
	})()`, sel, label)
	v := run(b, "pick "+label, chromedp.Evaluate[string](js))
	if v == "" {
		b.fail("pick "+label, fmt.Errorf("no option %q in %s", label, sel))
	}
	return v
}

// has reports whether the page has an element matching sel, now (pages
// are rendered by the server, so there is nothing to wait for).
func (b *tab) has(sel string) bool {
	b.t.Helper()
	return run(b, "look for "+sel, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q) !== null`, sel)))
}

// count returns how many elements match sel.
func (b *tab) count(sel string) int {
	b.t.Helper()
	return run(b, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
}

// text returns the visible text of the first element matching sel, or ""
// when there is none.
func (b *tab) text(sel string) string {
	b.t.Helper()
	return run(b, "read "+sel, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText`, sel)))
}

// attr returns the attribute name of the first element matching sel.
func (b *tab) attr(sel, name string) string {
	b.t.Helper()
	return run(b, "read "+sel+"@"+name, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)?.getAttribute(%q)) ?? ""`, sel, name)))
}

// mustText is text, failing the test when sel matches nothing.
func (b *tab) mustText(sel string) string {
	b.t.Helper()
	if !b.has(sel) {
		b.fail("find "+sel, fmt.Errorf("no element %s", sel))
	}
	return b.text(sel)
}

// wantText fails the test unless the element sel shows want.
func (b *tab) wantText(sel, want string) {
	b.t.Helper()
	if got := b.mustText(sel); !strings.Contains(got, want) {
		b.shot("failed-want-" + safeName(want))
		b.t.Fatalf("%s shows %q, want it to contain %q (at %s)", sel, got, want, b.location())
	}
}

// styled fails the test unless the page's stylesheet was loaded and
// applied (a page without styles still "works" but is not what a person
// sees).
func (b *tab) styled() {
	b.t.Helper()
	ok := run(b, "check styles", chromedp.Evaluate[bool](`[...document.styleSheets].some(s => {
		try { return s.href && s.href.includes("/static/style.css") && s.cssRules.length > 0 } catch (e) { return false }
	})`))
	if !ok {
		b.shot("failed-unstyled")
		b.t.Fatalf("the stylesheet is not applied at %s", b.location())
	}
}

// shot saves a full-page PNG screenshot as the test's next artefact.
func (b *tab) shot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	return b.save(name, png)
}

// shotOf saves a PNG screenshot of the element sel alone.
func (b *tab) shotOf(sel, name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	return b.save(name, png)
}

// save writes the screenshot png as the tab's next artefact.
func (b *tab) save(name string, png []byte) string {
	b.t.Helper()
	b.n++
	path := filepath.Join(b.dir, fmt.Sprintf("%s-%02d-%s.png", b.who, b.n, safeName(name)))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	abs, _ := filepath.Abs(path)
	b.t.Logf("screenshot: %s", abs)
	return path
}

// disableScripts turns JavaScript off in the tab, for the pages loaded
// from now on.
func (b *tab) disableScripts() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		b.fail("disable JavaScript", err)
	}
}

// cookies returns the names of the cookies the browser holds for the
// server.
func (b *tab) cookies() []string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/"}})
	if err != nil {
		b.fail("read cookies", err)
	}
	var names []string
	for _, c := range res.Cookies {
		names = append(names, c.Name)
	}
	return names
}

// rows returns the visible text of each element matching sel (table rows).
func (b *tab) rows(sel string) []string {
	b.t.Helper()
	return run(b, "read "+sel, chromedp.Evaluate[[]string](fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.innerText)`, sel)))
}

// setChecked sets the checkbox sel.
func setChecked(sel string, on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).checked = %t`, sel, on))
}

// scrollTo scrolls the element sel into view (for the screenshots, which
// cover the whole page anyway, and for the reader of the test).
func scrollTo(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q)?.scrollIntoView()`, sel))
}

// clickSummary opens the <details> that holds sel, as a user clicking its
// summary would.
func clickSummary(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.JSPath(fmt.Sprintf(`document.querySelector(%q)?.closest("details")?.querySelector("summary")`, sel)))
}

// evalFloat evaluates a JavaScript number.
func evalFloat(js string) chromedp.Action[float64] { return chromedp.Evaluate[float64](js) }

// scriptsEnabled reports whether the page runs scripts. It asks the HTML
// parser, which reads <noscript> content as markup only when scripting is
// off; the probe itself runs through DevTools, which works either way.
func (b *tab) scriptsEnabled() bool {
	b.t.Helper()
	return run(b, "probe scripting", chromedp.Evaluate[bool](`(() => {
		const d = document.createElement("div");
		d.innerHTML = "<noscript><p></p></noscript>";
		return d.firstChild.firstChild.nodeType !== Node.ELEMENT_NODE;
	})()`))
}

// clickAndAnswer clicks sel, which opens a JavaScript confirmation,
// answers it (accept or dismiss), waits for the page when accepted, and
// returns the question asked.
func (b *tab) clickAndAnswer(what, sel string, accept bool) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	asked := make(chan string, 1)
	go func() {
		defer close(asked)
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			// The click waits for the dialog to close, so answer from
			// here.
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept})
			asked <- ev.Message
			return
		}
	}()
	var err error
	if accept {
		_, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	} else {
		err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel)))
	}
	if err != nil {
		b.fail(what, err)
	}
	select {
	case q := <-asked:
		return q
	case <-ctx.Done():
		b.fail(what, fmt.Errorf("no confirmation was asked"))
	}
	return ""
}
