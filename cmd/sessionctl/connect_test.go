package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb/internal/redistest"
)

// fakeCLI writes a stand-in for redis-cli that records its arguments, one
// per line, and the REDISCLI_AUTH it was given, then exits with code 7.
func fakeCLI(t *testing.T) (path, argsFile, authFile string) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "redis-cli")
	argsFile, authFile = filepath.Join(dir, "args"), filepath.Join(dir, "auth")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argsFile + "\nprintf '%s' \"${REDISCLI_AUTH-unset}\" > " + authFile + "\nexit 7\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, argsFile, authFile
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConnect(t *testing.T) {
	const password = "pw-s3cret-Value"
	srv := startWithPassword(t, password)
	// The ACL users the cases log in as (the URL's and REDIS_USERNAME's).
	for _, user := range []string{"app", "ops"} {
		if err := doAuthed(srv.Addr(), password, "ACL", "SETUSER", user, "on", ">"+password, "~*", "+@all"); err != nil {
			t.Fatal(err)
		}
	}
	host, port := "127.0.0.1", itoa(srv.Port)
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte(password+"\n"), 0o600)
	caFile := writeCA(t)

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // the arguments, space-separated
	}{
		{"url", map[string]string{"REDIS_URL": "redis://:" + password + "@" + srv.Addr() + "/3"}, nil,
			"-h 127.0.0.1 -p " + port + " -e -n 3"},
		{"url with user", map[string]string{"REDIS_URL": "redis://app:" + password + "@" + srv.Addr()}, nil,
			"-h 127.0.0.1 -p " + port + " -e -n 0 --user app"},
		{"host and password file", map[string]string{"REDIS_HOST": host, "REDIS_PORT": port, "REDIS_DB": "2", "REDIS_USERNAME": "ops", "REDIS_PASSWORD_FILE": pwFile}, nil,
			"-h 127.0.0.1 -p " + port + " -e -n 2 --user ops"},
		{"password variable, extra arguments", map[string]string{"REDIS_HOST": host, "REDIS_PORT": port, "REDIS_PASSWORD": password}, []string{"--", "--scan", "--pattern", "sdb:*"},
			"-h 127.0.0.1 -p " + port + " -e -n 0 --scan --pattern sdb:*"},
		{"tls", map[string]string{"REDIS_HOST": "localhost", "REDIS_PORT": port, "REDIS_TLS": "true", "REDIS_TLS_CA_FILE": caFile, "REDIS_PASSWORD": password, "REDIS_TIMEOUT_MS": "200"}, nil,
			"-h localhost -p " + port + " --tls --cacert " + caFile + " --sni localhost -e -n 0"},
		{"rediss url", map[string]string{"REDIS_URL": "rediss://u:" + password + "@127.0.0.1:" + port + "/1", "REDIS_TIMEOUT_MS": "200"}, nil,
			"-h 127.0.0.1 -p " + port + " --tls -e -n 1 --user u"},
		{"unix socket", map[string]string{"REDIS_URL": "unix:///run/redis/redis.sock?db=4", "REDIS_PASSWORD": password}, nil,
			"-s /run/redis/redis.sock -e -n 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli, argsFile, authFile := fakeCLI(t)
			args := append([]string{"connect", "--redis-cli", cli}, tt.args...)
			r := ctl(t, tt.env, args...)
			if r.code != 7 {
				t.Fatalf("exit %d, want redis-cli's 7\n%s", r.code, r)
			}
			got := strings.Join(strings.Fields(readFile(t, argsFile)), " ")
			if got != tt.want {
				t.Errorf("redis-cli arguments:\n got %s\nwant %s", got, tt.want)
			}
			if strings.Contains(got, password) {
				t.Errorf("the password is on redis-cli's command line: %s", got)
			}
			if auth := readFile(t, authFile); auth != password {
				t.Errorf("REDISCLI_AUTH = %q, want the password", auth)
			}
			// --print shows the same command, without the password.
			r = ctl(t, tt.env, append([]string{"connect", "--print"}, tt.args...)...).want(t, exitOK)
			if strings.Contains(r.stdout, password) || !strings.Contains(r.stdout, "REDISCLI_AUTH") {
				t.Errorf("--print:\n%s", r)
			}
			if first := strings.SplitN(r.stdout, "\n", 2)[0]; strings.Join(strings.Fields(strings.ReplaceAll(first, "'", "")), " ") != "redis-cli "+tt.want {
				t.Errorf("--print shows %q, want redis-cli %s", first, tt.want)
			}
		})
	}

	t.Run("no password", func(t *testing.T) {
		open := redistest.Start(t)
		cli, argsFile, authFile := fakeCLI(t)
		t.Setenv("REDISCLI_AUTH", "")
		os.Unsetenv("REDISCLI_AUTH")
		ctl(t, redisEnv(open), "connect", "--redis-cli", cli, "PING").want(t, 7)
		if got := strings.Fields(readFile(t, argsFile)); strings.Join(got, " ") != "-h 127.0.0.1 -p "+itoa(open.Port)+" -e -n 0 PING" {
			t.Errorf("arguments %q", got)
		}
		if auth := readFile(t, authFile); auth != "unset" {
			t.Errorf("REDISCLI_AUTH = %q, want unset", auth)
		}
	})

	t.Run("real redis-cli", func(t *testing.T) {
		cli := redistest.Binary(t, "redis-cli")
		env := map[string]string{"REDIS_URL": srv.URL(), "REDIS_PASSWORD_FILE": pwFile}
		r := ctl(t, env, "connect", "--redis-cli", cli, "--", "SET", "connect-test", "42").want(t, exitOK)
		if strings.TrimSpace(r.stdout) != "OK" {
			t.Fatalf("redis-cli SET:\n%s", r)
		}
		r = ctl(t, env, "connect", "--redis-cli", cli, "GET", "connect-test").want(t, exitOK)
		if strings.TrimSpace(r.stdout) != "42" {
			t.Errorf("redis-cli GET:\n%s", r)
		}
		if strings.Contains(r.stderr, "Warning: Using a password") {
			t.Errorf("redis-cli was given the password on its command line:\n%s", r)
		}
	})

	t.Run("errors are non-zero exits", func(t *testing.T) {
		cli := redistest.Binary(t, "redis-cli")
		env := map[string]string{"REDIS_URL": srv.URL(), "REDIS_PASSWORD_FILE": pwFile}
		r := ctl(t, env, "connect", "--redis-cli", cli, "--", "NOSUCHCOMMAND", "x")
		if r.code != exitError || !strings.Contains(r.stdout+r.stderr, "unknown command") {
			t.Errorf("a command Redis refuses: want exit 1 with its error\n%s", r)
		}
		env["REDIS_PASSWORD_FILE"] = filepath.Join(t.TempDir(), "wrong")
		os.WriteFile(env["REDIS_PASSWORD_FILE"], []byte("not-the-password\n"), 0o600)
		r = ctl(t, env, "connect", "--redis-cli", cli, "--", "PING").want(t, exitUsage)
		if !strings.Contains(r.stderr, `user "default"`) || !strings.Contains(r.stderr, "WRONGPASS") || strings.Contains(r.stdout, "PONG") {
			t.Errorf("a wrong password: want exit 2 naming the user\n%s", r)
		}
	})

	t.Run("cluster", func(t *testing.T) {
		if testing.Short() {
			t.Skip("cluster test skipped in -short mode")
		}
		cl := redistest.StartCluster(t, 3)
		r := ctl(t, map[string]string{"REDIS_URL": "redis://" + cl.Nodes[0].Addr(), "REDIS_TIMEOUT_MS": slow}, "connect", "--print").want(t, exitOK)
		if !strings.Contains(r.stdout, " -c") || strings.Contains(r.stdout, " -n ") {
			t.Errorf("connect to a cluster node: want -c and no -n\n%s", r)
		}
	})

	t.Run("missing redis-cli", func(t *testing.T) {
		env := map[string]string{"REDIS_URL": srv.URL(), "REDIS_PASSWORD_FILE": pwFile}
		r := ctl(t, env, "connect", "--redis-cli", filepath.Join(t.TempDir(), "none")).want(t, exitError)
		if !strings.Contains(r.stderr, "not found") {
			t.Errorf("missing redis-cli:\n%s", r)
		}
	})
}

// writeCA writes a self-signed CA certificate in PEM and returns its path.
func writeCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sessionctl test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startSentinel runs a Sentinel that monitors primary as "mymaster" and
// returns its address.
func startSentinel(t *testing.T, primary *redistest.Server) string {
	t.Helper()
	bin := redistest.Binary(t, "redis-server")
	port := redistest.FreePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := "port " + itoa(port) + "\nbind 127.0.0.1\ndir " + dir + "\n" +
		"sentinel monitor mymaster 127.0.0.1 " + itoa(primary.Port) + " 1\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--sentinel", "--logfile", filepath.Join(dir, "sentinel.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := "127.0.0.1:" + itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		reply, err := redistest.Do(addr, "SENTINEL", "get-master-addr-by-name", "mymaster")
		if err == nil && reply != "" {
			return addr
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "sentinel.log"))
			t.Fatalf("sentinel on %s not ready: %v %q\n%s", addr, err, reply, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestConnectSentinel(t *testing.T) {
	primary := redistest.Start(t)
	sentinel := startSentinel(t, primary)
	for _, env := range []map[string]string{
		{"REDIS_URL": "redis://" + sentinel + "?master_set=mymaster", "REDIS_TIMEOUT_MS": slow},
		{"REDIS_HOST": "127.0.0.1", "REDIS_PORT": strings.Split(sentinel, ":")[1], "REDIS_SENTINEL_MASTER": "mymaster", "REDIS_TIMEOUT_MS": slow},
	} {
		r := ctl(t, env, "connect", "--print").want(t, exitOK)
		if want := "redis-cli -h 127.0.0.1 -p " + itoa(primary.Port) + " -e -n 0\n"; r.stdout != want {
			t.Errorf("connect through Sentinel (%v):\n got %q\nwant %q", env, r.stdout, want)
		}
		// The other commands work through Sentinel too.
		ctl(t, env, "stats").want(t, exitOK)
	}
	r := ctl(t, map[string]string{"REDIS_URL": "redis://" + sentinel + "?master_set=nosuch", "REDIS_TIMEOUT_MS": "300"}, "connect", "--print").want(t, exitUnavailable)
	if !strings.Contains(r.stderr, `cannot find the primary of "nosuch"`) {
		t.Errorf("unknown master set:\n%s", r)
	}
}

// doAuthed runs one command on addr as the default user with password.
func doAuthed(addr, password string, args ...string) error {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, Password: password,
		ForceSingleClient: true, DisableCache: true, ClientSetInfo: rueidis.DisableClientSetInfo})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Do(ctx, c.B().Arbitrary(args...).Build()).Error()
}
