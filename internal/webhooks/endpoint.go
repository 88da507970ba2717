package webhooks

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/webhook"
)

// Endpoint is one receiver of webhooks.
type Endpoint struct {
	// Name identifies the endpoint: in logs, metrics, sessionctl, and the
	// keys of its delivery state (cursor, dead letters). A new name starts
	// a new delivery; the same name with another URL goes on where it was.
	Name string
	// URL is where events are POSTed: http or https.
	URL *url.URL
	// Types are the event types delivered; empty means all.
	Types []sessiondb.EventType
	// Secrets sign each request, the first the current one; more than one
	// while a secret is rotated.
	Secrets []webhook.Secret
}

// Redacted returns the URL without its query (which may carry a token of
// the receiver's), for logs.
func (e *Endpoint) Redacted() string {
	u := *e.URL
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.Fragment, u.User = "", nil
	return u.String()
}

// TypesText is the endpoint's event types as configured: "*" or a
// comma-separated list.
func (e *Endpoint) TypesText() string {
	if len(e.Types) == 0 {
		return "*"
	}
	names := make([]string, len(e.Types))
	for i, t := range e.Types {
		names[i] = string(t)
	}
	return strings.Join(names, ",")
}

// MaxNameLen bounds an endpoint's name.
const MaxNameLen = 64

// CheckName reports whether s may name an endpoint: 1 to 64 letters,
// digits, '.', '_' or '-'.
func CheckName(s string) error {
	if len(s) == 0 || len(s) > MaxNameLen {
		return fmt.Errorf("the name must be 1 to %d characters", MaxNameLen)
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return errors.New("the name may hold only letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}

// ParseEndpoints reads the endpoints of SESSIOND_WEBHOOKS (list: endpoints
// separated by newlines or ';') and of SESSIOND_WEBHOOKS_FILE (file: one
// endpoint a line; blank lines and lines starting with # skipped). Each
// endpoint is four fields separated by spaces:
//
//	name url types secret
//
// types is "*" (every event) or a comma-separated list of event types;
// secret is "whsec_<base64>" (several separated by commas while rotating:
// the first signs as the current one) or the path of a file holding such
// secrets, one a line. Its errors say where the bad entry is, never what it
// holds: an entry holds a secret.
func ParseEndpoints(list, file string) ([]Endpoint, error) {
	var eps []Endpoint
	var errs []error
	add := func(where, entry string) {
		ep, err := parseEndpoint(entry)
		if err == nil {
			for _, other := range eps {
				if other.Name == ep.Name {
					err = fmt.Errorf("the name %q is given twice", ep.Name)
				}
			}
		}
		if err != nil {
			if f := strings.Fields(entry); len(f) > 0 && CheckName(f[0]) == nil {
				where += " (" + f[0] + ")" // the name alone: the entry holds a secret
			}
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			return
		}
		eps = append(eps, ep)
	}
	if list != "" {
		n := 0
		for entry := range strings.FieldsFuncSeq(list, func(r rune) bool { return r == '\n' || r == ';' }) {
			if strings.TrimSpace(entry) == "" {
				continue
			}
			n++
			add(fmt.Sprintf("SESSIOND_WEBHOOKS: endpoint %d", n), entry)
		}
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("SESSIOND_WEBHOOKS_FILE: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		line := 0
		for sc.Scan() {
			line++
			entry := strings.TrimSpace(sc.Text())
			if entry == "" || strings.HasPrefix(entry, "#") {
				continue
			}
			add(fmt.Sprintf("SESSIOND_WEBHOOKS_FILE %s line %d", file, line), entry)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("SESSIOND_WEBHOOKS_FILE %s: %w", file, err)
		}
	}
	return eps, errors.Join(errs...)
}

func parseEndpoint(entry string) (Endpoint, error) {
	fields := strings.Fields(entry)
	if len(fields) != 4 {
		return Endpoint{}, fmt.Errorf("want 4 fields separated by spaces, name url types secret; found %d", len(fields))
	}
	name, rawURL, types, secret := fields[0], fields[1], fields[2], fields[3]
	if err := CheckName(name); err != nil {
		return Endpoint{}, err
	}
	ep := Endpoint{Name: name}
	u, err := parseURL(rawURL)
	if err != nil {
		return Endpoint{}, err
	}
	ep.URL = u
	if types != "*" {
		for t := range strings.SplitSeq(types, ",") {
			et, err := sessiondb.ParseEventType(t)
			if err != nil {
				return Endpoint{}, fmt.Errorf("types: want * or a comma-separated list of %s", typeList())
			}
			if !slices.Contains(ep.Types, et) {
				ep.Types = append(ep.Types, et)
			}
		}
	}
	if ep.Secrets, err = parseSecrets(secret); err != nil {
		return Endpoint{}, err
	}
	return ep, nil
}

func typeList() string {
	names := make([]string, len(sessiondb.EventTypes))
	for i, t := range sessiondb.EventTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// parseURL accepts absolute http and https URLs with a host and without
// user information (the signature authenticates sessiond; a password in
// the URL would be a secret in plain sight).
func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, errors.New("url: not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("url: want an http:// or https:// URL")
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("url: no host")
	case u.User != nil:
		return nil, errors.New("url: user information (user:password@) is not allowed: the signature authenticates sessiond")
	case u.Fragment != "":
		return nil, errors.New("url: a fragment (#...) is not sent to the server; remove it")
	}
	return u, nil
}

// parseSecrets reads the secret field: secrets given inline, or the path of
// a file of secrets.
func parseSecrets(field string) ([]webhook.Secret, error) {
	if strings.HasPrefix(field, webhook.SecretPrefix) {
		var out []webhook.Secret
		for i, s := range strings.Split(field, ",") {
			sec, err := webhook.CheckSecret(s)
			if err != nil {
				return nil, fmt.Errorf("secret %d: %w (make one with: sessionctl webhooks secret)", i+1, err)
			}
			out = append(out, sec)
		}
		return out, nil
	}
	b, err := os.ReadFile(field)
	if err != nil {
		// Not quoted, nor the error (which names the path): a secret
		// mistyped without its whsec_ prefix would be shown.
		why := "cannot be read"
		if errors.Is(err, fs.ErrNotExist) {
			why = "does not exist"
		}
		return nil, fmt.Errorf("secret: want whsec_<base64>, or the path of a file of secrets; the file %s", why)
	}
	var out []webhook.Secret
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sec, err := webhook.CheckSecret(line)
		if err != nil {
			return nil, fmt.Errorf("secret file %s line %d: %w (make one with: sessionctl webhooks secret)", field, i+1, err)
		}
		out = append(out, sec)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("secret file %s holds no secret", field)
	}
	return out, nil
}
