package main

// browser_test.go: index.html in a real Chromium, headless, driven through
// its DevTools protocol, which is itself JSON over WebSocket: the test speaks
// it with the test client of client_test.go and the standard library only.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// findChromium returns Debian's Chromium, or skips (fails under CI) without it.
func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "Chromium not found: apt-get install chromium"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// startChromium runs a headless Chromium with its DevTools on a free port,
// with extra flags, and returns the DevTools address (host:port).
func startChromium(t *testing.T, extra ...string) string {
	bin := findChromium(t)
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
		"--user-data-dir=" + t.TempDir(), "--remote-debugging-port=0", "--window-size=1100,1000"}, extra...)
	cmd := exec.Command(bin, append(args, "about:blank")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helper processes go with it
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			// "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
			if _, rest, ok := strings.Cut(sc.Text(), "DevTools listening on ws://"); ok {
				host, _, _ := strings.Cut(rest, "/")
				found <- host
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case host := <-found:
		return host
	case <-time.After(30 * time.Second):
		t.Fatal("Chromium did not start its DevTools within 30 s")
	}
	return ""
}

// cdp is a DevTools protocol session with one page.
type cdp struct {
	t      *testing.T
	ws     *testClient
	wmu    sync.Mutex
	nextID int

	mu      sync.Mutex
	waiting map[int]chan cdpReply
	errors  []string // console errors and uncaught exceptions seen on the page
}

// cdpReply is the answer to one command.
type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// openPage connects to the first page target of the Chromium at devtools.
func openPage(t *testing.T, devtools string) *cdp {
	resp, err := http.Get("http://" + devtools + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	var targets []struct{ Type, WebSocketDebuggerURL string }
	err = json.NewDecoder(resp.Body).Decode(&targets)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if tg.Type != "page" {
			continue
		}
		path := strings.TrimPrefix(tg.WebSocketDebuggerURL, "ws://"+devtools)
		ws, err := dialWS(devtools, path) // no Origin: DevTools refuses pages' origins
		if err != nil {
			t.Fatal(err)
		}
		ws.t = t
		c := &cdp{t: t, ws: ws, waiting: map[int]chan cdpReply{}}
		go c.readLoop()
		t.Cleanup(func() { ws.nc.Close() })
		for _, domain := range []string{"Runtime", "Log", "Page"} {
			c.call(domain+".enable", nil)
		}
		return c
	}
	t.Fatal("Chromium has no page target")
	return nil
}

// readLoop hands replies to their callers and records the page's errors.
func (c *cdp) readLoop() {
	for {
		var msg []byte
		for { // a message may come in fragments
			f, err := readClientSideFrame(c.ws.br)
			if err != nil {
				c.mu.Lock()
				for id, ch := range c.waiting {
					close(ch)
					delete(c.waiting, id)
				}
				c.mu.Unlock()
				return
			}
			msg = append(msg, f.payload...)
			if f.fin {
				break
			}
		}
		var m struct {
			ID     int             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			cdpReply
		}
		if json.Unmarshal(msg, &m) != nil {
			continue
		}
		c.mu.Lock()
		if ch, ok := c.waiting[m.ID]; ok && m.Method == "" {
			ch <- m.cdpReply
			delete(c.waiting, m.ID)
		}
		switch m.Method {
		case "Runtime.exceptionThrown", "Log.entryAdded", "Runtime.consoleAPICalled":
			s := string(m.Params)
			if m.Method == "Runtime.exceptionThrown" || strings.Contains(s, `"level":"error"`) || strings.Contains(s, `"type":"error"`) {
				c.errors = append(c.errors, m.Method+": "+s)
			}
		}
		c.mu.Unlock()
	}
}

// readClientSideFrame reads one frame from a server other than ours
// (Chromium's DevTools), without the checks readServerFrame applies to ours.
func readClientSideFrame(r io.Reader) (testFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return testFrame{}, err
	}
	f := testFrame{fin: h[0]&0x80 != 0, opcode: h[0] & 0x0F}
	n := uint64(h[1] & 0x7F)
	var ext [8]byte
	switch n {
	case 126:
		if _, err := io.ReadFull(r, ext[:2]); err != nil {
			return f, err
		}
		n = uint64(ext[0])<<8 | uint64(ext[1])
	case 127:
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return f, err
		}
		n = 0
		for _, b := range ext {
			n = n<<8 | uint64(b)
		}
	}
	f.payload = make([]byte, n)
	_, err := io.ReadFull(r, f.payload)
	return f, err
}

// call sends a command and waits for its result.
func (c *cdp) call(method string, params any) json.RawMessage {
	c.t.Helper()
	c.wmu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan cdpReply, 1)
	c.mu.Lock()
	c.waiting[id] = ch
	c.mu.Unlock()
	msg, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	_, err := c.ws.nc.Write(frames(testFrame{fin: true, opcode: 1, payload: msg}))
	c.wmu.Unlock()
	if err != nil {
		c.t.Fatal(err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			c.t.Fatalf("%s: DevTools connection closed", method)
		}
		if r.Error != nil {
			c.t.Fatalf("%s: %s", method, r.Error.Message)
		}
		return r.Result
	case <-time.After(60 * time.Second):
		c.t.Fatalf("%s: no answer in 60 s", method)
	}
	return nil
}

// eval runs an async JavaScript function body in the page and returns its
// result, decoded into out; a thrown error fails the test.
func (c *cdp) eval(body string, out any) {
	c.t.Helper()
	res := c.call("Runtime.evaluate", map[string]any{
		"expression":    "(async () => {" + pageHelpers + body + "})()",
		"awaitPromise":  true,
		"returnByValue": true,
	})
	var r struct {
		Result           struct{ Value json.RawMessage }
		ExceptionDetails *struct {
			Exception struct{ Description string }
		}
	}
	if err := json.Unmarshal(res, &r); err != nil {
		c.t.Fatal(err)
	}
	if r.ExceptionDetails != nil {
		c.t.Fatalf("in the page: %s", r.ExceptionDetails.Exception.Description)
	}
	if out != nil {
		if err := json.Unmarshal(r.Result.Value, out); err != nil {
			c.t.Fatalf("page result %s: %v", r.Result.Value, err)
		}
	}
}

// pageHelpers are defined in every eval: $ by id, and until(cond) that waits
// for a condition on the page, polling, for 30 s at most.
const pageHelpers = `
const $ = (id) => document.getElementById(id);
const until = async (what, cond) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > 30000) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const entries = (kind) => Array.from(document.querySelectorAll('#log li[data-kind="' + kind + '"]'));
`

// screenshot saves a PNG of the page into dir and returns its path.
func (c *cdp) screenshot(dir, name string) string {
	res := c.call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true})
	var r struct{ Data string }
	json.Unmarshal(res, &r)
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		c.t.Fatalf("screenshot: not a PNG (%v)", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		c.t.Fatal(err)
	}
	return path
}

// TestPageInChromium opens index.html from disk and from the server, and
// uses it as a learner would: connect, send, read the log, disconnect.
func TestPageInChromium(t *testing.T) {
	devtools := startChromium(t)
	var logs, trace syncBuffer
	addr, _ := startServerTrace(t, func(c *config) { c.trace = true }, &logs, &trace)
	file, err := filepath.Abs("index.html")
	if err != nil {
		t.Fatal(err)
	}
	shots, err := os.MkdirTemp("", "wsecho-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	for _, tc := range []struct{ name, url string }{
		{"file", "file://" + file},
		{"http", "http://" + addr + "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := openPage(t, devtools)
			page.call("Page.navigate", map[string]any{"url": tc.url})
			page.eval(`await until("the page to load", () => document.readyState === "complete" && $("connect"));`, nil)

			// The default address: the article's port from disk, the page's own host over http.
			var defURL string
			page.eval(`return $("url").value;`, &defURL)
			if want := map[string]string{"file": "ws://127.0.0.1:9999/", "http": "ws://" + addr + "/"}[tc.name]; defURL != want {
				t.Fatalf("default server %q, want %q", defURL, want)
			}

			page.eval(fmt.Sprintf(`
				$("url").value = %q;
				$("connect").click();
				await until("open", () => $("state").dataset.state === "open");`, "ws://"+addr+"/"), nil)

			// Type a message and press Enter, as a person would.
			page.eval(`$("text").focus();`, nil)
			page.call("Input.insertText", map[string]any{"text": "hello, echo"})
			page.call("Input.dispatchKeyEvent", map[string]any{"type": "keyDown", "key": "Enter", "code": "Enter",
				"windowsVirtualKeyCode": 13, "text": "\r"})
			page.call("Input.dispatchKeyEvent", map[string]any{"type": "keyUp", "key": "Enter", "code": "Enter",
				"windowsVirtualKeyCode": 13})

			texts := []string{"hello, echo", "你好，世界 🌍🚀", ""}
			for i := range 100 {
				texts = append(texts, fmt.Sprintf("message %d of 100", i+1))
			}
			var result struct {
				Sent, Received, Matched int
				Previews                []string
				Sizes                   []string
				BinarySize              string
				FrameShown              bool
				Check, Key, Source      string
				Request, Accept         string
			}
			page.eval(fmt.Sprintf(`
				const texts = %s;
				await until("the typed message's echo", () => entries("recv").length === 1);
				for (const s of texts.slice(1, 3)) { $("text").value = s; $("send-text").click(); }
				$("binary-size").value = "1048576";
				$("send-binary").click();
				for (const s of texts.slice(3)) { $("text").value = s; $("send-text").click(); }
				const total = texts.length + 1;
				await until("every echo", () => entries("recv").length === total);
				const recv = entries("recv");
				return {
					sent: entries("sent").length,
					received: recv.length,
					matched: recv.filter((li) => li.dataset.match === "yes").length,
					previews: recv.filter((li) => li.dataset.type === "text").map((li) => li.querySelector(".preview").textContent),
					sizes: recv.map((li) => li.dataset.size),
					binarySize: (recv.find((li) => li.dataset.type === "binary") || {dataset: {}}).dataset.size,
					frameShown: !$("frame-body").hidden && $("frame-fields").textContent.includes("Masking-key"),
					...(await (async () => {
						await until("the inspector's report of the last frame", () =>
							$("frame-fields").textContent.includes(Array.from(new TextEncoder().encode(texts[texts.length - 1]).slice(0, 4),
								(b) => b.toString(16).padStart(2, "0")).join(" ")) && $("frame-check").dataset.ok);
						return {check: $("frame-check").dataset.ok, key: $("frame-body").dataset.key,
							source: $("frame-source").textContent, request: $("hs-request").textContent,
							accept: $("hs-accept").textContent};
					})()),
				};`, mustJSON(texts)), &result)
			if result.Sent != 104 || result.Received != 104 || result.Matched != 104 {
				t.Fatalf("sent %d, received %d, matching %d: want 104 each", result.Sent, result.Received, result.Matched)
			}
			for i, s := range texts {
				if result.Previews[i] != mustJSON(s) {
					t.Fatalf("echo %d shown as %s, want %s", i, result.Previews[i], mustJSON(s))
				}
			}
			if result.BinarySize != "1048576" || !result.FrameShown {
				t.Fatalf("binary echo size %q, frame drawn %v", result.BinarySize, result.FrameShown)
			}
			// The inspector: the key the page shows is the one the server received for the last
			// message (its -trace says so), the page's unmasking matches, and the handshake is shown.
			keys := regexp.MustCompile(`Masking-key: ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2})`).FindAllStringSubmatch(trace.String(), -1)
			if len(keys) == 0 {
				t.Fatal("the server's trace has no masking key")
			}
			last := keys[len(keys)-1]
			if want := last[1] + last[2] + last[3] + last[4]; result.Key != want || result.Check != "yes" {
				t.Fatalf("the page shows key %q and check %q; the server received key %q", result.Key, result.Check, want)
			}
			if strings.Contains(result.Source, "llustrative") || !strings.Contains(result.Request, "?inspect=") ||
				!strings.Contains(result.Request, "Sec-WebSocket-Key:") || !strings.Contains(result.Accept, "✓") {
				t.Fatalf("frame source %q, handshake %q, accept %q", result.Source, result.Request, result.Accept)
			}
			t.Logf("screenshot: %s", page.screenshot(shots, tc.name+"-exchange.png"))
			page.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 390, "height": 844,
				"deviceScaleFactor": 1, "mobile": true})
			t.Logf("screenshot: %s", page.screenshot(shots, tc.name+"-phone.png"))
			page.call("Emulation.clearDeviceMetricsOverride", nil)

			var closed struct{ Code, Clean, State, Text string }
			page.eval(`
				$("disconnect").click();
				await until("the close", () => entries("close").length === 1 && $("state").dataset.state === "closed");
				const li = entries("close")[0];
				return {code: li.dataset.code, clean: li.dataset.clean, state: $("state").dataset.state, text: li.textContent};`, &closed)
			if closed.Code != "1000" || closed.Clean != "true" || !strings.Contains(closed.Text, "Normal Closure") {
				t.Fatalf("close shown as %+v, want a clean 1000 Normal Closure", closed)
			}
			page.mu.Lock()
			defer page.mu.Unlock()
			if len(page.errors) > 0 {
				t.Fatalf("console errors on the page:\n%s", strings.Join(page.errors, "\n"))
			}
		})
	}
	// The server's side of the same story: each page's connection closed
	// cleanly by the client with 1000 after echoing all 104 messages.
	if n := strings.Count(logs.String(), "code=1000 reason=bye by=client messages=104 bytes=1050303 "); n != 2 {
		t.Fatalf("server logged %d clean closes after 104 echoes, want 2:\n%s", n, logs.String())
	}
}

// TestPageInChromiumDeflate: against a server with -deflate, Chromium
// negotiates permessage-deflate, the page says so (ws.extensions), a long
// text and a 1 MiB binary come back intact, the server's trace shows RSV1
// and the inflated text, and the page checks the compressed frame against
// what the server inflated it to.
func TestPageInChromiumDeflate(t *testing.T) {
	devtools := startChromium(t)
	var logs, trace syncBuffer
	addr, _ := startServerTrace(t, func(c *config) { c.trace, c.deflate = true, true }, &logs, &trace)
	page := openPage(t, devtools)
	page.call("Page.navigate", map[string]any{"url": "http://" + addr + "/"})
	var result struct {
		Ext, Check, CheckText string
		Matched               int
		BinarySize            string
	}
	page.eval(`
		await until("the page to load", () => document.readyState === "complete" && $("connect"));
		$("connect").click();
		await until("open", () => $("state").dataset.state === "open");
		$("binary-size").value = "1048576";
		$("send-binary").click();
		await until("the binary echo", () => entries("recv").length === 1);
		$("text").value = "你好, permessage-deflate! ".repeat(200);
		$("send-text").click();
		await until("the text echo and the inflated report", () => entries("recv").length === 2 && $("frame-check").textContent.includes("✓"));
		const ext = entries("info").find((li) => li.dataset.ext !== undefined);
		return {ext: ext ? ext.dataset.ext : "", check: $("frame-check").dataset.ok, checkText: $("frame-check").textContent,
			matched: entries("recv").filter((li) => li.dataset.match === "yes").length,
			binarySize: entries("recv")[0].dataset.size};`, &result)
	if !strings.HasPrefix(result.Ext, "permessage-deflate") {
		t.Fatalf("ws.extensions %q: Chromium did not negotiate permessage-deflate", result.Ext)
	}
	if result.Matched != 2 || result.BinarySize != "1048576" || result.Check != "yes" {
		t.Fatalf("matched %d, binary %q, check %q %q", result.Matched, result.BinarySize, result.Check, result.CheckText)
	}
	tr := trace.String()
	for _, want := range []string{"extensions agreed:  permessage-deflate", "RSV1=1", "inflate to 5600 bytes", "你好", "the echo carries the"} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	if shots, err := os.MkdirTemp("", "wsecho-screenshots-"); err == nil {
		t.Logf("screenshot: %s", page.screenshot(shots, "deflate.png"))
	}
	page.eval(`$("disconnect").click(); await until("the close", () => $("state").dataset.state === "closed");`, nil)
}

// TestPageWithoutInspector: against a server with -inspect=false, the page
// still connects and echoes, and says that its frame is an illustration.
func TestPageWithoutInspector(t *testing.T) {
	devtools := startChromium(t)
	addr, _ := startServer(t, func(c *config) { c.inspect = false })
	page := openPage(t, devtools)
	page.call("Page.navigate", map[string]any{"url": "http://" + addr + "/"})
	var got struct{ Source, Log string }
	page.eval(`
		await until("the page to load", () => document.readyState === "complete" && $("connect"));
		$("connect").click();
		await until("open", () => $("state").dataset.state === "open");
		$("text").value = "no inspector";
		$("send-text").click();
		await until("the echo", () => entries("recv").length === 1);
		return {source: $("frame-source").textContent, log: $("log").textContent};`, &got)
	if !strings.HasPrefix(got.Source, "Illustrative") || !strings.Contains(got.Log, "no inspector") {
		t.Fatalf("frame source %q; log %q: want the illustration, said so", got.Source, got.Log)
	}
}

// TestPagesInChinese: with the browser's language set to Chinese, both
// pages read in Chinese, log lines and close-code names included, and the
// switch turns them to English.
func TestPagesInChinese(t *testing.T) {
	devtools := startChromium(t, "--lang=zh-CN", "--accept-lang=zh-CN")
	addr, _ := startServer(t, nil)
	page := openPage(t, devtools)
	page.call("Page.navigate", map[string]any{"url": "http://" + addr + "/"})
	var zh struct{ Lang, Title, Button, State, Log, Close, Frame, After string }
	page.eval(`
		await until("the page to load", () => document.readyState === "complete" && $("connect"));
		const r = {lang: document.documentElement.lang, title: document.querySelector("h1").textContent, button: $("lang").textContent};
		$("connect").click();
		await until("open", () => $("state").dataset.state === "open");
		r.state = $("state").textContent;
		$("text").value = "你好";
		$("send-text").click();
		await until("the echo", () => entries("recv").length === 1 && $("frame-check").dataset.ok);
		r.frame = $("frame-source").textContent + " " + $("frame-check").textContent;
		$("disconnect").click();
		await until("the close", () => entries("close").length === 1);
		r.log = $("log").textContent;
		r.close = entries("close")[0].textContent;
		return r;`, &zh)
	t.Logf("screenshot: %s", page.screenshot(os.TempDir(), "wsecho-zh.png"))
	page.eval(`$("lang").click(); return document.querySelector("h1").textContent + " / " + $("connect").textContent;`, &zh.After)
	if zh.Lang != "zh-CN" || zh.Title != "WebSocket 回声" || zh.Button != "English" || zh.State != "已连接" {
		t.Fatalf("index.html in Chinese: %+v", zh)
	}
	if !strings.Contains(zh.Log, "正在连接") || !strings.Contains(zh.Log, "收到") || !strings.Contains(zh.Close, "正常关闭") ||
		!strings.Contains(zh.Frame, "服务器收到的样子") || !strings.Contains(zh.Frame, "✓ 在本页用掩码键") {
		t.Fatalf("log, close and frame in Chinese: %+v", zh)
	}
	if zh.After != "WebSocket echo / Connect" {
		t.Fatalf("after the switch: %q; want English", zh.After)
	}

	page.call("Page.navigate", map[string]any{"url": "http://" + addr + "/push.html"})
	var push struct{ Title, Poll, Cost string }
	page.eval(`
		await until("the page to load", () => document.readyState === "complete" && $("start"));
		return {title: document.querySelector("h1").textContent, poll: $("poll").querySelector("h2").textContent,
			cost: $("poll").querySelector(".cost").textContent};`, &push)
	if !strings.HasPrefix(push.Title, "服务器推送") || push.Poll != "2.1 轮询" || !strings.Contains(push.Cost, "每分钟") {
		t.Fatalf("push.html in Chinese: %+v", push)
	}

	page.call("Page.navigate", map[string]any{"url": "http://" + addr + "/lab.html?frames=8185"})
	var lab struct{ Title, Run, Preset, Verdict string }
	page.eval(`
		await until("the run", () => document.readyState === "complete" && $("verdict").dataset.kind);
		return {title: document.querySelector("h1").textContent, run: $("run").textContent,
			preset: $("preset").options[0].textContent, verdict: $("verdict").textContent};`, &lab)
	if lab.Title != "帧实验室" || lab.Run != "运行" || !strings.Contains(lab.Preset, "带掩码的文本") || !strings.HasPrefix(lab.Verdict, "服务器还在等") {
		t.Fatalf("lab.html in Chinese: %+v", lab)
	}
	page.mu.Lock()
	defer page.mu.Unlock()
	if len(page.errors) > 0 {
		t.Fatalf("console errors:\n%s", strings.Join(page.errors, "\n"))
	}
}

// mustJSON is v as JSON.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines to log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pushPanelWords is how push.html's English and Chinese titles count its
// panels ("six ways", "六种方式").
var pushPanelWords = map[int][2]string{5: {"five ways", "五种方式"}, 6: {"six ways", "六种方式"}, 7: {"seven ways", "七种方式"}}

// TestPushPageInChromium opens push.html from disk and from the server,
// starts the six clocks, and checks that each ticks, EventSource and the
// iframe stream included, with the costs the page counts; that a drop's
// reconnect is counted outside the updates, not spread over them; and that
// the title and heading, in both languages, count the panels there are.
func TestPushPageInChromium(t *testing.T) {
	devtools := startChromium(t)
	addr, _ := startServer(t, nil)
	file, err := filepath.Abs("push.html")
	if err != nil {
		t.Fatal(err)
	}
	shots, err := os.MkdirTemp("", "wsecho-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, url string }{
		{"file", "file://" + file},
		{"http", "http://" + addr + "/push.html"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := openPage(t, devtools)
			page.call("Page.navigate", map[string]any{"url": tc.url})
			page.eval(`await until("the page to load", () => document.readyState === "complete" && $("start"));`, nil)
			var r struct {
				Updates  map[string]int
				Requests map[string]int
				Open     map[string]int
				Up, Down map[string]float64
				TCP      map[string]int
				LastID   string
				Resumed  int
				WsClose  string
				After    struct{ Up, Down map[string]float64 } // per update, after the drops
				Outside  map[string]struct{ Before, After, Count int }
				Titles   []string // the h1 and document.title, in English and in Chinese
				Panels   int
			}
			page.eval(fmt.Sprintf(`
				$("server").value = %q;
				$("start").click();
				const ids = ["poll", "long", "iframe", "events", "ws"];
				const n = (id) => Number($(id).dataset.updates);
				await until("every clock to tick", () => n("poll") >= 3 && n("keep") >= 3 && n("iframe") >= 3 && n("events") >= 3 && n("ws") >= 3 && n("long") >= 1);
				await until("every panel's bytes per update", () => ids.concat(["keep"]).every((id) => $(id).dataset.up && $(id).dataset.down));
				const num = (id, cls) => Number($(id).querySelector("." + cls).textContent);
				const out = {updates: {}, requests: {}, open: {}, up: {}, down: {}, lastID: $("events").querySelector(".lastid").textContent};
				for (const id of ids.concat(["keep"])) {
					out.updates[id] = n(id); out.requests[id] = num(id, "requests"); out.open[id] = num(id, "open");
					out.up[id] = Number($(id).dataset.up); out.down[id] = Number($(id).dataset.down);
				}
				out.tcp = {poll: Number($("poll").dataset.tcp), keep: Number($("keep").dataset.tcp)};
				const outside = (id) => Number($(id).querySelector(".outside")?.dataset.bytes);
				out.outside = {events: {before: outside("events")}, ws: {before: outside("ws")}};
				// Drop the EventSource from the server's side: the browser reconnects with Last-Event-ID,
				// and the count goes on where it was.
				const before = Number($("events").querySelector(".lastid").textContent);
				$("events").querySelector("button.drop").click();
				await until("the EventSource's reconnect", () => num("events", "reconnects") >= 1);
				await until("an event after it", () => Number($("events").querySelector(".lastid").textContent) > before + 1);
				out.resumed = Number($("events").querySelector(".lastid").textContent) - before;
				// Drop the WebSocket: it closes with 1001, and the page connects again.
				$("ws").querySelector("button.drop").click();
				await until("the WebSocket's close and reconnect", () => num("ws", "reconnects") >= 1 && $("ws").dataset.lastClose);
				out.wsClose = $("ws").dataset.lastClose;
				// A few updates on the new connections, then the figures again: a reconnect's handshake is
				// counted outside the updates, and what an update costs has not moved.
				const sent = {events: n("events"), ws: n("ws")};
				await until("updates after the reconnects", () => n("events") >= sent.events + 3 && n("ws") >= sent.ws + 3);
				const handshakes = (id) => Number($(id).querySelector(".outside")?.dataset.count);
				await until("the server's counts of the second handshakes", () => ["events", "ws"].every((id) => !$(id).querySelector(".outside") || handshakes(id) >= 2));
				await new Promise((r) => setTimeout(r, 2500)); // two more rounds of /clock/stats
				out.after = {up: {}, down: {}};
				for (const id of ["events", "ws"]) {
					out.after.up[id] = Number($(id).dataset.up); out.after.down[id] = Number($(id).dataset.down);
					out.outside[id].after = outside(id); out.outside[id].count = handshakes(id);
				}
				// The headline counts the panels, in both languages.
				out.panels = document.querySelectorAll(".grid > section").length;
				const titles = () => [document.querySelector("h1").textContent, document.title];
				if (lang === "zh") $("lang").click();
				out.titles = titles();
				$("lang").click();
				out.titles.push(...titles());
				$("lang").click();
				return out;`, "http://"+addr), &r)
			t.Logf("updates %v, requests %v, open %v, last event id %s", r.Updates, r.Requests, r.Open, r.LastID)
			if r.Requests["poll"] < 3 || r.Requests["iframe"] != 1 || r.Requests["events"] != 1 || r.Requests["ws"] != 1 {
				t.Fatalf("requests %v: polling makes one a second, the streams and the WebSocket one each", r.Requests)
			}
			if r.Open["iframe"] != 1 || r.Open["events"] != 1 || r.Open["ws"] != 1 || r.LastID == "" {
				t.Fatalf("open %v, last id %q", r.Open, r.LastID)
			}
			t.Logf("bytes per update, page to server %v, server to page %v", r.Up, r.Down)
			// What the article is about, in figures: a poll costs its request and response heads every
			// time, a pushed WebSocket update a frame of a few bytes.
			if !(r.Down["ws"] > 0 && r.Down["ws"] < 40 && r.Up["poll"] > 100 && r.Down["poll"] > 100 && r.Down["events"] < r.Down["poll"]) {
				t.Fatalf("bytes per update: up %v, down %v", r.Up, r.Down)
			}
			if r.TCP["poll"] < 3 || r.TCP["keep"] != 1 {
				t.Fatalf("TCP connections: %v; want one a poll without keep-alive, one in all with it", r.TCP)
			}
			if r.Resumed < 2 || r.Resumed > 10 || r.WsClose != "1001" {
				t.Fatalf("after the drops: the event count moved on by %d (want it resumed, not restarted), WebSocket closed with %q", r.Resumed, r.WsClose)
			}
			t.Logf("after the drops: bytes per update, page to server %v, server to page %v; outside updates %v", r.After.Up, r.After.Down, r.Outside)
			for _, id := range []string{"events", "ws"} {
				if d, e := r.After.Up[id]-r.Up[id], r.After.Down[id]-r.Down[id]; d > 2 || d < -2 || e > 2 || e < -2 {
					t.Errorf("%s: bytes per update %.1f up, %.1f down before the drop, %.1f and %.1f after: the reconnect is spread over the updates",
						id, r.Up[id], r.Down[id], r.After.Up[id], r.After.Down[id])
				}
				if o := r.Outside[id]; o.Count != 2 || o.After <= o.Before || o.Before <= 0 {
					t.Errorf("%s: outside updates %+v; want 2 handshakes, and the second one's bytes added", id, o)
				}
			}
			if want := pushPanelWords[r.Panels]; r.Panels != 6 || want == [2]string{} || len(r.Titles) != 4 ||
				!strings.Contains(r.Titles[0], want[0]) || !strings.Contains(r.Titles[1], want[0]) ||
				!strings.Contains(r.Titles[2], want[1]) || !strings.Contains(r.Titles[3], want[1]) {
				t.Errorf("%d panels, titles %q; want each to count them (%q)", r.Panels, r.Titles, want)
			}
			t.Logf("screenshot: %s", page.screenshot(shots, "push-"+tc.name+".png"))
			page.eval(`$("stop").click();`, nil)
			page.mu.Lock()
			defer page.mu.Unlock()
			if len(page.errors) > 0 {
				t.Fatalf("console errors on the page:\n%s", strings.Join(page.errors, "\n"))
			}
		})
	}
}
