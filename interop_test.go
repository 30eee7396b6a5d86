package main

// interop_test.go: a real client library from outside this repository,
// Python's websockets (Debian's python3-websockets), against the server.

import (
	"context"
	"os"
	"os/exec"
	"strings"
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
		t.Skip(msg + " (apt-get install python3-websockets chromium)")
	}
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
