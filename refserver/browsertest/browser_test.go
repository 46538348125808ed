package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/historiaehr/historia/refserver/internal/syncbuf"
)

// EnvChromium names the Chromium (or Chrome) binary to use; when unset the
// first of chromiumNames found on PATH is used.
const EnvChromium = "HISTORIA_CHROMIUM"

var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// Time limits. Every browser action runs under stepTimeout; starting the
// browser and opening a tab have their own.
const (
	stepTimeout    = 30 * time.Second
	startTimeout   = 60 * time.Second
	closeTimeout   = 10 * time.Second
	viewportWidth  = 1280
	viewportHeight = 900
)

// inCI reports whether CI=true: then a missing browser fails the tests.
func inCI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

// findChromium returns the path of the browser binary.
func findChromium() (string, error) {
	if p := os.Getenv(EnvChromium); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvChromium, p, err)
		}
		return path, nil
	}
	for _, name := range chromiumNames {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("no browser: set %s or install one of %v (Debian: apt-get install chromium)", EnvChromium, chromiumNames)
}

// browser is the Chromium shared by the tests of this binary, started on
// first use and stopped by TestMain.
type browser struct {
	ctx    context.Context // the browser's first tab; new tabs derive from it
	cancel func()          // stops the browser (and removes its profile)
	path   string
	output *syncbuf.Buffer // Chromium's stdout and stderr, for failures
}

var (
	sharedOnce    sync.Once
	sharedBrowser *browser
	sharedErr     error
)

// sharedChromium returns the browser of this test binary, starting it on
// first use.
func sharedChromium() (*browser, error) {
	sharedOnce.Do(func() { sharedBrowser, sharedErr = startBrowser() })
	return sharedBrowser, sharedErr
}

// stopBrowser stops the shared browser, if it was started.
func stopBrowser() {
	if sharedBrowser == nil {
		return
	}
	done := make(chan struct{})
	go func() { sharedBrowser.cancel(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeTimeout):
		fmt.Fprintln(os.Stderr, "browsertest: the browser did not stop in time")
	}
}

// startBrowser starts a headless Chromium with what keeps it quiet and
// cheap: no background networking, extensions, sync or first-run pages.
// As root it needs --no-sandbox. It trusts any certificate: the only site
// it visits is the test server on 127.0.0.1 with httptest's certificate.
func startBrowser() (*browser, error) {
	path, err := findChromium()
	if err != nil {
		return nil, err
	}
	out := &syncbuf.Buffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		// The server picks the page language from Accept-Language;
		// Spanish is the product's first language. (Date inputs still
		// show mm/dd/yyyy: Debian's chromium ships only the en-US locale,
		// chromium-l10n has the others.)
		chromedp.Flag("accept-lang", "es-ES,es"),
		chromedp.DisableGPU,
		chromedp.IgnoreCertErrors,
		chromedp.WindowSize(viewportWidth, viewportHeight),
		chromedp.CombinedOutput(out),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	stop := func() { cancel(); allocCancel() }
	// The first Do starts the browser and binds its life to the context it
	// is given, so it gets ctx itself; the time limit is enforced here.
	if err := within(startTimeout, stop, func() error { return chromedp.Do(ctx) }); err != nil {
		stop()
		return nil, fmt.Errorf("start %s: %w\n%s", path, err, out.String())
	}
	return &browser{ctx: ctx, cancel: stop, path: path, output: out}, nil
}

// within runs fn, and calls abort when it has not returned after d, then
// waits for fn to return (abort must make it return).
func within(d time.Duration, abort func(), fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		abort()
		err := <-done
		return errors.Join(fmt.Errorf("timed out after %s", d), err)
	}
}
