// Package useragent turns a User-Agent header into a short readable name of
// the device and browser, for the pages that list a user's sessions (the
// login service's "My devices" and sessiond's console).
package useragent

import "strings"

// Describe turns a User-Agent header into a short readable name such as
// "Firefox 145 on Linux" or "Safari 18 on iPhone". It knows the common
// browsers, operating systems and a few command-line clients; anything else
// is named by the user agent's first product, or "Unknown device". The name
// is at most 64 bytes of valid UTF-8, whatever the input.
func Describe(ua string) string {
	ua = strings.ToValidUTF8(strings.TrimSpace(ua), "")
	browser := browserName(ua)
	if browser == "" {
		browser = productName(ua)
	}
	system := systemName(ua)
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "Browser on " + system
	}
	return "Unknown device"
}

// productName returns the first product of a user agent, as "Name 2" for
// "Name/2.1 (...)", unless it is the "Mozilla" every browser sends.
func productName(ua string) string {
	first, _, _ := strings.Cut(ua, " ")
	name, version, _ := strings.Cut(first, "/")
	if name == "" || name == "Mozilla" || len(name) > 32 || strings.ContainsAny(name, "()<>;") {
		return ""
	}
	if v := majorVersion(version); v != "" {
		return name + " " + v
	}
	return name
}

// browsers are matched in order: many user agents name several products
// (Edge also says Chrome and Safari, Chrome also says Safari).
var browsers = []struct{ token, name string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
	{"OPR/", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"HeadlessChrome/", "Headless Chrome"},
	{"CriOS/", "Chrome"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"},
	{"Version/", "Safari"}, // Safari puts its own version in Version/
	{"curl/", "curl"},
	{"Wget/", "Wget"},
	{"python-requests/", "Python requests"},
	{"python-httpx/", "Python httpx"},
	{"Python-urllib/", "Python urllib"},
	{"Go-http-client/", "Go HTTP client"},
}

func browserName(ua string) string {
	for _, b := range browsers {
		i := strings.Index(ua, b.token)
		if i < 0 {
			continue
		}
		if b.name == "Safari" && !strings.Contains(ua, "Safari/") {
			continue
		}
		if v := majorVersion(ua[i+len(b.token):]); v != "" {
			return b.name + " " + v
		}
		return b.name
	}
	return ""
}

// majorVersion returns the leading digits of a version: "145" of "145.0 ...".
func majorVersion(s string) string {
	n := 0
	for n < len(s) && n < 6 && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return s[:n]
}

// systems are matched in order: iPhones and Android phones also say "like
// Mac OS X" and "Linux".
var systems = []struct{ token, name string }{
	{"iPhone", "iPhone"}, {"iPad", "iPad"},
	{"Android", "Android"},
	{"CrOS", "ChromeOS"},
	{"Windows", "Windows"},
	{"Macintosh", "macOS"}, {"Mac OS X", "macOS"},
	{"Linux", "Linux"}, {"X11", "Linux"},
}

func systemName(ua string) string {
	for _, s := range systems {
		if strings.Contains(ua, s.token) {
			return s.name
		}
	}
	return ""
}
