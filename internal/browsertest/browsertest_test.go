package browsertest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestAccessibilityCheckerFinds checks that the checker does report what is
// wrong, and passes a page that is right, so that a clean report of the
// console means something.
func TestAccessibilityCheckerFinds(t *testing.T) {
	pages := map[string]string{
		"/bad": `<!doctype html><html><head><title>bad</title></head><body><main>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<p style="color:#bbb;background:#fff">low contrast</p>
<input type="text">
</main></body></html>`,
		"/good": `<!doctype html><html lang="en"><head><title>good</title></head><body><main>
<h1>Good</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="a dot">
<label for="x">Name</label><input id="x" type="text"></main></body></html>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(pages[r.URL.Path]))
	}))
	defer srv.Close()
	tab := Start(t).NewTab(t, 800, 600, time.Minute)

	tab.Do("open the bad page", chromedp.Navigate(srv.URL+"/bad"))
	var ids []string
	for _, v := range tab.Violations("the bad page") {
		ids = append(ids, v.ID)
	}
	for _, want := range []string{"image-alt", "color-contrast", "label", "html-has-lang"} {
		if !slices.Contains(ids, want) {
			t.Errorf("axe-core found %v on the bad page, not %s", ids, want)
		}
	}

	tab.Do("open the good page", chromedp.Navigate(srv.URL+"/good"))
	tab.CheckAccessibility("the good page")

	dir := t.TempDir()
	t.Setenv(ScreenshotsEnv, dir)
	tab.Screenshot("good")
	if b, err := os.ReadFile(filepath.Join(dir, "good.png")); err != nil || len(b) < 8 || string(b[1:4]) != "PNG" {
		t.Errorf("the screenshot is not a PNG file (%d bytes, %v)", len(b), err)
	}
}
