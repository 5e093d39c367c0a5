package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds catalogd into the test's temp dir, with a version set the way a release
// build sets it.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "catalogd")
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version=9.8.7-test", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startBinary runs the binary's serve and returns it with its base URL once it is ready.
func startBinary(t *testing.T, bin string, args ...string) (*exec.Cmd, string, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--database", "sqlite:" + filepath.Join(t.TempDir(), "c.db")}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				base <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	var url string
	select {
	case url = <-base:
	case <-time.After(30 * time.Second):
		t.Fatalf("catalogd did not start:\n%s", logs.String())
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("catalogd not ready:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd, url, logs
}

// slowRequest starts a GraphQL POST whose body arrives in two halves: the request is in
// flight from the first half until send is called.
func slowRequest(t *testing.T, base string) (conn net.Conn, send func()) {
	t.Helper()
	body := `{"query":"{ entities(first: 1) { totalCount } }"}`
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])
	return conn, func() { io.WriteString(conn, body[10:]) }
}

func waitExit(t *testing.T, cmd *exec.Cmd, within time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		t.Fatalf("catalogd did not exit within %s", within)
		return -1
	}
}

func TestSIGTERMDrainsInFlightRequestsAndExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)

	t.Run("a request in flight completes and the exit status is 0", func(t *testing.T) {
		cmd, base, logs := startBinary(t, bin)
		conn, send := slowRequest(t, base)
		time.Sleep(200 * time.Millisecond) // the server has read the headers: the request is active
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// The listener closes at once; the request in flight is still waited for.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 200*time.Millisecond); err != nil {
				break
			} else {
				c.Close()
			}
			if time.Now().After(deadline) {
				t.Fatal("still accepting connections 5s after SIGTERM")
			}
		}
		time.Sleep(500 * time.Millisecond)
		send()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("the request in flight got no answer: %v\n%s", err, logs.String())
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"totalCount":0`) {
			t.Errorf("in-flight answer: %d %s", resp.StatusCode, b)
		}
		if code := waitExit(t, cmd, 15*time.Second); code != 0 {
			t.Errorf("exit status %d, want 0\n%s", code, logs.String())
		}
		if !strings.Contains(logs.String(), "shut down") {
			t.Errorf("no shutdown line in the log:\n%s", logs.String())
		}
	})

	t.Run("a request that outlives the deadline does not keep catalogd up", func(t *testing.T) {
		cmd, base, _ := startBinary(t, bin, "--shutdown-timeout", "1s")
		slowRequest(t, base) // never completed
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		cmd.Process.Signal(syscall.SIGTERM)
		code := waitExit(t, cmd, 15*time.Second)
		if took := time.Since(start); took > 8*time.Second {
			t.Errorf("exited %s after SIGTERM with a 1s deadline", took)
		}
		if code == 0 {
			t.Errorf("exit status 0 although a request was cut off")
		}
	})

	t.Run("--version names the version set at build time", func(t *testing.T) {
		for _, args := range [][]string{{"--version"}, {"version"}} {
			out, err := exec.Command(bin, args...).Output()
			if err != nil || !strings.HasPrefix(string(out), "catalogd 9.8.7-test (") {
				t.Errorf("catalogd %v: %q, %v", args, out, err)
			}
		}
	})
}
