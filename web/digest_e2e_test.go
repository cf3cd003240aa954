package web

import (
	"bytes"
	"image/png"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDigestPreviewInBrowser opens /digest in headless Chromium. The email must show inside
// the page's frame (the page's CSP, and the email's own CSP and X-Frame-Options, allow exactly
// that): nothing is refused on the console, and the frame is painted with the email, not left
// blank. Opened on its own, the email's inline styles apply.
func TestDigestPreviewInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	f := newFixture(t)
	hs := httptest.NewServer(f.srv)
	t.Cleanup(hs.Close)
	ctx := browserContext(t)
	errs := consoleErrors(ctx)

	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/digest?week=2026-W10"), chromedp.WaitVisible(chromedp.CSS("iframe"))); err != nil {
		t.Fatal(err)
	}
	// The frame has loaded once the browser lists its document among the page's resources.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`performance.getEntriesByType('resource').some(e => e.name.includes('format=html'))`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the frame's document was not requested: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // paint, and late console messages
	rect, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const r = document.querySelector('iframe').getBoundingClientRect();
		return [r.left + window.scrollX, r.top + window.scrollY, r.width, Math.min(r.height, 600)]; })()`))
	if err != nil || len(rect) != 4 {
		t.Fatalf("frame position: %v %v", rect, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	// A refused or empty frame is one flat colour; the email has text, links and coloured cards.
	colours := map[uint32]bool{}
	for y := int(rect[1]) + 5; y < int(rect[1]+rect[3]); y += 3 {
		for x := int(rect[0]) + 5; x < int(rect[0]+rect[2])-5; x += 3 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[(r>>12)<<8|(g>>12)<<4|b>>12] = true
		}
	}
	if len(colours) < 20 {
		t.Errorf("the frame looks blank: %d distinct colours", len(colours))
	}
	if e := errs(); len(e) > 0 {
		t.Errorf("console errors on the preview page: %q", e)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[style]').length`)); err != nil || n != 0 {
		t.Errorf("the preview page has %d elements with inline styles (%v)", n, err)
	}

	// The email on its own: its inline styles apply under its own CSP.
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/digest?week=2026-W10&format=html"), chromedp.WaitVisible(chromedp.CSS(".pd-card"))); err != nil {
		t.Fatal(err)
	}
	style, err := chromedp.Run(ctx, chromedp.ComputedStyle(chromedp.CSS(".pd-card")))
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]string{}
	for _, p := range style {
		props[p.Name] = p.Value
	}
	if props["border-top-style"] != "solid" || props["background-color"] != "rgb(255, 255, 255)" {
		t.Errorf("the email's inline styles did not apply: border %q, background %q", props["border-top-style"], props["background-color"])
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil || !strings.HasPrefix(strings.Join(strings.Fields(heading), " "), "Week 2026-W10") {
		t.Errorf("heading %q (%v)", heading, err)
	}
	if e := errs(); len(e) > 0 {
		t.Errorf("console errors: %q", e)
	}
}
