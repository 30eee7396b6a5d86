package main

import (
	"bufio"
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTheBinary runs the server as a user does: built, started, talked to,
// stopped with SIGTERM. main() is the code no other test reaches: the
// start-up line, the exit codes, the busy-port message.
func TestTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "wsecho")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// -h: every flag, exit 0.
	help, err := exec.Command(bin, "-h").CombinedOutput()
	if err != nil || !strings.Contains(string(help), "-max-message") || !strings.Contains(string(help), "default 64MiB") {
		t.Fatalf("-h: %v\n%s", err, help)
	}

	// Start: one line says where, and how to connect.
	srv := exec.Command(bin, "-addr", "127.0.0.1:0", "-shutdown-timeout", "2s")
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	first := <-lines
	m := regexp.MustCompile(`listening on ws://(127\.0\.0\.1:\d+)/ .*websocat ws://127\.0\.0\.1:\d+/`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("start-up line: %q", first)
	}
	addr := m[1]

	// An echo.
	c := dial(t, addr)
	c.send(text("你好, wsecho"))
	if f := c.read(); f.opcode != 1 || string(f.payload) != "你好, wsecho" {
		t.Fatalf("echo: %+v", f)
	}

	// A second server on the same port: exit 1, and a hint.
	out, err := exec.Command(bin, "-addr", addr).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !bytes.Contains(out, []byte("address already in use")) ||
		!bytes.Contains(out, []byte("-addr")) {
		t.Fatalf("second server on %s: %v\n%s", addr, err, out)
	}

	// SIGTERM: the open client gets Close 1001, answers it, and the server exits 0.
	srv.Process.Signal(syscall.SIGTERM)
	c.expectClose(1001)
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
	}
	var log []string
	for l := range lines {
		log = append(log, l)
	}
	all := strings.Join(log, "\n")
	for _, want := range []string{"msg=open", "msg=closed", "code=1001", "messages=1", "msg=\"shutting down\"", "msg=bye"} {
		if !strings.Contains(all, want) {
			t.Errorf("log lacks %q:\n%s", want, all)
		}
	}
}

// TestTraceFlag: -trace is still a bool flag, alone or with a bool, and
// also takes ws or http; any other value is refused at start.
func TestTraceFlag(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		on   bool
		only traceScope
	}{
		{"-trace", true, traceAll}, {"-trace=true", true, traceAll}, {"-trace=false", false, traceAll},
		{"-trace=ws", true, traceWS}, {"-trace=http", true, traceHTTP},
	} {
		cfg, err := parseFlags([]string{tc.arg}, io.Discard)
		if err != nil || cfg.trace != tc.on || cfg.traceOnly != tc.only {
			t.Errorf("%s: trace=%v only=%d, err %v; want trace=%v only=%d", tc.arg, cfg.trace, cfg.traceOnly, err, tc.on, tc.only)
		}
	}
	var out bytes.Buffer
	_, err := parseFlags([]string{"-trace=frames"}, &out)
	if err == nil || !strings.Contains(err.Error(), `"frames" for -trace: want true, false, ws`) || !strings.Contains(err.Error(), "ws") {
		t.Errorf("-trace=frames: %v", err)
	}
	out.Reset()
	parseFlags([]string{"-h"}, &out)
	if _, usage, _ := strings.Cut(out.String(), "  -trace\n"); !strings.HasPrefix(usage, "    \tprint every handshake") || !strings.Contains(usage, "-trace=ws") {
		t.Errorf("-h does not show -trace as a bool flag that also takes ws:\n%s", out.String())
	}
}
