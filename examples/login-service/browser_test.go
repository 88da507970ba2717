package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/browsertest"
	"github.com/sessiondb/sessiondb/memstore"
)

// TestBrowser drives the service in headless Chromium, in development mode
// on plain-HTTP loopback: alice logs in on two browsers (two browser
// contexts, each with its own cookies), sees both on "My devices", logs the
// second one out from the first, and the second is sent back to the login
// page.
func TestBrowser(t *testing.T) {
	browser := browsertest.Start(t)
	m, err := sessiondb.New(memstore.New(), sessiondb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Store().Close() })
	srv := startService(t, m, "library", false)

	logIn := func(tab *browsertest.Tab) {
		t.Helper()
		tab.Do("open the service", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(`input[name="user"]`))
		tab.Load("log in",
			chromedp.SendKeys(`input[name="user"]`, "alice"),
			chromedp.SendKeys(`input[name="password"]`, "wonderland"),
			chromedp.Submit(`input[name="password"]`))
		if h := tab.Text("h1"); h != "My devices" {
			t.Fatalf("after logging in: %q, want My devices", h)
		}
	}
	rows := func(tab *browsertest.Tab) []string {
		return browsertest.Eval[[]string](tab, `Array.from(document.querySelectorAll('table.devices tbody tr')).map(function (tr) {
			return tr.dataset.session + (tr.classList.contains('current') ? ' current' : '');
		})`)
	}

	laptop := browser.NewTab(t, 1280, 800, 2*time.Minute)
	phone := browser.NewTab(t, 390, 844, 2*time.Minute)
	laptop.Do("open the login page", chromedp.Navigate(srv.URL+"/login"), chromedp.WaitVisible("form.login"))
	laptop.Screenshot("login-service-login")
	logIn(laptop)
	logIn(phone)

	// The cookie: HttpOnly and SameSite=Lax; without Secure in development
	// mode on plain HTTP, and out of reach of scripts.
	if got := browsertest.Eval[string](laptop, `document.cookie`); got != "" {
		t.Errorf("scripts can read cookies: %q", got)
	}

	laptop.Load("reload My devices", chromedp.Reload())
	onLaptop := rows(laptop)
	if len(onLaptop) != 2 {
		t.Fatalf("the laptop's devices: %v, want two", onLaptop)
	}
	text := laptop.Text("table.devices")
	if !strings.Contains(text, "Headless Chrome") || !strings.Contains(text, "this device") {
		t.Errorf("the devices table reads %q", text)
	}
	laptop.Screenshot("login-service-devices")
	phone.Screenshot("login-service-devices-phone")
	onPhone := rows(phone)
	var phoneID string
	for _, r := range onPhone {
		if id, ok := strings.CutSuffix(r, " current"); ok {
			phoneID = id
		}
	}
	if phoneID == "" {
		t.Fatalf("the phone's list marks no current device: %v", onPhone)
	}

	// From the laptop, log the phone out.
	laptop.Load("log the phone out", chromedp.Click(`tr[data-session="`+phoneID+`"] button`))
	if got := laptop.Text(".notice"); got != "Logged out 1 other device." {
		t.Errorf("notice %q", got)
	}
	if r := rows(laptop); len(r) != 1 || !strings.HasSuffix(r[0], " current") {
		t.Errorf("the laptop's devices after logging the phone out: %v", r)
	}
	phone.Load("the phone reloads", chromedp.Reload())
	if loc := browsertest.Eval[string](phone, `location.pathname`); loc != "/login" {
		t.Errorf("the logged-out phone is at %s, want /login", loc)
	}
	if _, err := m.Get(t.Context(), phoneID); err == nil {
		t.Errorf("the phone's session %s is still live", phoneID)
	}

	// Log out on the laptop too: nothing is left.
	laptop.Load("log out", chromedp.Click(`form[action="/logout"] button`))
	if list, err := m.UserSessions(t.Context(), "alice"); err != nil || len(list) != 0 {
		t.Errorf("alice has %d sessions after logging out everywhere (%v)", len(list), err)
	}
}
