package useragent

import "testing"

func TestDescribe(t *testing.T) {
	cases := []struct{ ua, want string }{
		{"Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0", "Firefox 145 on Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36", "Chrome 142 on Windows"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.3595.53", "Edge 142 on Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Safari/605.1.15", "Safari 18 on macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1", "Safari 18 on iPhone"},
		{"Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/141.0.7390.96 Mobile/15E148 Safari/604.1", "Chrome 141 on iPad"},
		{"Mozilla/5.0 (Linux; Android 16; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36", "Chrome 142 on Android"},
		{"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36", "Samsung Internet 28 on Android"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36", "Chrome 142 on ChromeOS"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 OPR/124.0.0.0", "Opera 124 on Windows"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/142.0.0.0 Safari/537.36", "Headless Chrome 142 on Linux"},
		{"curl/8.14.1", "curl 8"},
		{"Python-urllib/3.11", "Python urllib 3"},
		{"python-httpx/0.28.1", "Python httpx 0"},
		{"Go-http-client/1.1", "Go HTTP client 1"},
		{"ExampleApp/2.1 (Android 16)", "ExampleApp 2 on Android"},
		{"Mozilla/5.0 (Linux; U)", "Browser on Linux"},
		{"Mozilla/5.0", "Unknown device"},
		{"SomeBot/1.0", "SomeBot 1"},
		{"<script>/1", "Unknown device"},
		{"", "Unknown device"},
		{"   ", "Unknown device"},
		{"\xff\xfe", "Unknown device"},
	}
	for _, tc := range cases {
		if got := Describe(tc.ua); got != tc.want {
			t.Errorf("Describe(%q) = %q, want %q", tc.ua, got, tc.want)
		}
	}
}

func FuzzDescribe(f *testing.F) {
	f.Add("Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0")
	f.Add("Version/")
	f.Fuzz(func(t *testing.T, ua string) {
		if got := Describe(ua); len(got) > 64 {
			t.Errorf("Describe(%q) = %q: too long", ua, got)
		}
	})
}
