package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wsecho/internal/wstest"
)

// labKey is the masking key of RFC 6455 §5.7's masked examples.
var labKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// labFrames lays out client frames masked with labKey (wstest.Frame).
func labFrames(fs ...wstest.Frame) []byte {
	var b []byte
	for _, f := range fs {
		b = f.Append(b, labKey)
	}
	return b
}

// labResult is /lab's answer as a test reads it.
type labResult struct {
	In      []map[string]any `json:"in"`
	Out     []map[string]any `json:"out"`
	Sent    string           `json:"sent"`
	Close   *labClose        `json:"close"`
	Waiting *labWaiting      `json:"waiting"`
	Trace   string           `json:"trace"`
}

// getLab asks GET /lab?frames=HEX and returns the status and the body.
func getLab(t *testing.T, addr, frames string) (int, []byte) {
	t.Helper()
	return answer(t)(http.Get("http://" + addr + "/lab?frames=" + strings.ReplaceAll(frames, " ", "%20")))
}

// postLab sends in as POST /lab's body.
func postLab(t *testing.T, addr string, in []byte) (int, []byte) {
	t.Helper()
	return answer(t)(http.Post("http://"+addr+"/lab", "text/plain", bytes.NewReader(in)))
}

// answer reads a response's status and body whole, or fails the test.
func answer(t *testing.T) func(*http.Response, error) (int, []byte) {
	return func(resp *http.Response, err error) (int, []byte) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
}

// lab runs in through /lab (GET when its hex fits the request head, else
// POST) and decodes the answer.
func lab(t *testing.T, addr string, in []byte) labResult {
	t.Helper()
	status, body := 0, []byte(nil)
	if len(in) < 2<<10 {
		status, body = getLab(t, addr, hex.EncodeToString(in))
	} else {
		status, body = postLab(t, addr, in)
	}
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var r labResult
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return r
}

// TestLabRFCExamples: RFC 6455 §5.7's examples, sent as a client must send
// them (masked, with §5.7's key), come back byte for byte as §5.7's
// unmasked frames: "Hel"+"lo" as the one frame "Hello", and the ping's
// answer as §5.7's pong unmasked, as a server sends it.
func TestLabRFCExamples(t *testing.T) {
	addr, _ := startServer(t, nil)
	p256 := bytes.Repeat([]byte{0xab}, 256)
	p64k := bytes.Repeat([]byte{0x5a}, 65536)
	for _, tt := range []struct {
		name     string
		in       string // hex
		sent     string // hex
		in0, out int    // frames read and sent
	}{
		{"masked Hello", "818537fa213d7f9f4d5158", "810548656c6c6f", 1, 1},
		{"fragmented Hel+lo", hex.EncodeToString(labFrames(wstest.Frame{Opcode: 1, Payload: []byte("Hel")}, wstest.Frame{Fin: true, Payload: []byte("lo")})),
			"810548656c6c6f", 2, 1},
		{"ping Hello", hex.EncodeToString(labFrames(wstest.Frame{Fin: true, Opcode: 9, Payload: []byte("Hello")})), "8a0548656c6c6f", 1, 1},
		{"256 bytes", hex.EncodeToString(labFrames(wstest.Frame{Fin: true, Opcode: 2, Payload: p256})),
			"827e0100" + hex.EncodeToString(p256), 1, 1},
		{"64 KiB", hex.EncodeToString(labFrames(wstest.Frame{Fin: true, Opcode: 2, Payload: p64k})),
			"827f0000000000010000" + hex.EncodeToString(p64k), 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in, _ := hex.DecodeString(tt.in)
			r := lab(t, addr, in)
			if r.Sent != tt.sent {
				t.Fatalf("sent %.80s..., want %.80s...", r.Sent, tt.sent)
			}
			if len(r.In) != tt.in0 || len(r.Out) != tt.out || r.Close != nil || r.Waiting != nil {
				t.Fatalf("in %d frames, out %d, close %+v, waiting %+v; want %d, %d, none, none", len(r.In), len(r.Out), r.Close, r.Waiting, tt.in0, tt.out)
			}
			if tt.name == "masked Hello" {
				want := map[string]any{"header": "818537fa213d", "fin": true, "opcode": 1.0, "mask": true, "length": 5.0,
					"maskingKey": "37fa213d", "payloadMasked": "7f9f4d5158", "payload": "48656c6c6f", "truncated": false}
				for k, v := range want {
					if r.In[0][k] != v {
						t.Errorf("in[0].%s = %v, want %v", k, r.In[0][k], v)
					}
				}
				if r.Out[0]["header"] != "8105" || r.Out[0]["payload"] != "48656c6c6f" {
					t.Errorf("out[0] = %v", r.Out[0])
				}
			}
		})
	}
}

// TestLabVerdicts: each of lab.html's presets for a rule, and each close
// code the server sends, gets that verdict from the server's own code.
func TestLabVerdicts(t *testing.T) {
	addr, _ := startServer(t, func(c *config) { c.maxMessage = 1000 })
	closeFrame := func(code uint16, reason string) wstest.Frame {
		return wstest.Frame{Fin: true, Opcode: 8, Payload: append([]byte{byte(code >> 8), byte(code)}, reason...)}
	}
	for _, tt := range []struct {
		name string
		in   []byte
		code uint16
		by   string
	}{
		{"unmasked frame", wstest.Frame{Fin: true, Opcode: 1, Payload: []byte("Hello"), NoMask: true}.Append(nil, labKey), 1002, "server"},
		{"RSV1 without an extension", labFrames(wstest.Frame{Fin: true, RSV: 0x40, Opcode: 1, Payload: []byte("Hello")}), 1002, "server"},
		{"ping of 126 bytes", labFrames(wstest.Frame{Fin: true, Opcode: 9, Payload: make([]byte, 126)}), 1002, "server"},
		{"fragmented ping", labFrames(wstest.Frame{Opcode: 9, Payload: []byte("Hel")}), 1002, "server"},
		{"continuation with no message", labFrames(wstest.Frame{Fin: true, Payload: []byte("lo")}), 1002, "server"},
		{"reserved opcode 3", labFrames(wstest.Frame{Fin: true, Opcode: 3}), 1002, "server"},
		{"invalid UTF-8", labFrames(wstest.Frame{Fin: true, Opcode: 1, Payload: []byte{0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80}}), 1007, "server"},
		{"message over -max-message", labFrames(wstest.Frame{Fin: true, Opcode: 2, Declare: 1001, Payload: []byte("x")}), 1009, "server"},
		{"Close with code 999", labFrames(closeFrame(999, "")), 1002, "server"},
		{"Close with code 1005", labFrames(closeFrame(1005, "")), 1002, "server"},
		{"Close 1000", labFrames(closeFrame(1000, "bye")), 1000, "client"},
		{"Close with no code", labFrames(wstest.Frame{Fin: true, Opcode: 8}), 1005, "client"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := lab(t, addr, tt.in)
			if r.Close == nil || r.Close.Code != tt.code || r.Close.By != tt.by {
				t.Fatalf("close %+v, want %d by %s; trace:\n%s", r.Close, tt.code, tt.by, r.Trace)
			}
			if r.Waiting != nil {
				t.Fatalf("waiting %+v after a close", r.Waiting)
			}
			last := r.Out[len(r.Out)-1]
			if last["opcode"] != 8.0 {
				t.Fatalf("the last frame out is %v, not a Close", last)
			}
			if tt.by == "server" && !strings.HasPrefix(r.Sent[len(r.Sent)-int(last["length"].(float64))*2-4:], "88") {
				t.Fatalf("sent %s does not end in the Close", r.Sent)
			}
		})
	}
}

// TestLabWaiting: bytes that end inside a frame or a message say what the
// server waits for.
func TestLabWaiting(t *testing.T) {
	addr, _ := startServer(t, nil)
	hello := labFrames(wstest.Frame{Fin: true, Opcode: 1, Payload: []byte("Hello")})
	for _, tt := range []struct {
		name    string
		in      []byte
		part    string
		missing uint64
		frame   int
		out     int
	}{
		{"one byte", hello[:1], "header", 1, 1, 0},
		{"header without its key", hello[:4], "header", 2, 1, 0},
		{"payload cut", hello[:8], "payload", 3, 1, 0},
		{"a message's first fragment", labFrames(wstest.Frame{Opcode: 1, Payload: []byte("Hel")}), "message", 0, 2, 0},
		{"after an echo, half a header", append(append([]byte{}, hello...), 0x81), "header", 1, 2, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := lab(t, addr, tt.in)
			w := r.Waiting
			if r.Close != nil || w == nil || w.Part != tt.part || w.Missing != tt.missing || w.Frame != tt.frame || len(r.Out) != tt.out {
				t.Fatalf("close %+v, waiting %+v, %d frames out; want %s, %d missing, frame %d, %d out", r.Close, w, len(r.Out), tt.part, tt.missing, tt.frame, tt.out)
			}
			if !strings.Contains(r.Trace, w.Text) {
				t.Fatalf("the trace does not say what it waits for (%q):\n%s", w.Text, r.Trace)
			}
		})
	}
	if r := lab(t, addr, hello); r.Waiting != nil {
		t.Fatalf("a whole message waits for %+v", r.Waiting)
	}
}

// TestLabRefusals: bad input gets a status and its reason, and -lab=false
// turns the lab off.
func TestLabRefusals(t *testing.T) {
	addr, _ := startServer(t, nil)
	for _, tt := range []struct {
		name, frames string
		status       int
		why          string
	}{
		{"odd", "818", 400, "odd number"},
		{"not hex", "81zz", 400, `'z' is not a hex digit`},
		{"not hex, not ASCII", "81%ff0", 400, `the byte 0xff is not a hex digit`},
		{"not a query", "81;85", 400, "not name=value pairs"},
		{"none", "", 400, "no bytes"},
		{"too many frames", strings.Repeat("8980"+"37fa213d", labMaxFrames+1), 400, "at most 50"},
	} {
		if status, body := getLab(t, addr, tt.frames); status != tt.status || !strings.Contains(string(body), tt.why) {
			t.Errorf("%s: %d %q, want %d with %q", tt.name, status, body, tt.status, tt.why)
		}
	}
	if status, body := postLab(t, addr, make([]byte, labMaxBody+1)); status != 413 {
		t.Errorf("a body over 128 KiB: %d %q, want 413", status, body)
	}
	if status, _ := getLab(t, addr, "81 85 37fa213d 7f9f4d5158"); status != 200 {
		t.Errorf("spaces between the bytes: %d, want 200", status)
	}
	// Chunked, lengths that are not one number, and a body on GET, over the
	// raw socket: net/http sends none of them here.
	for _, tt := range []struct {
		req    string
		status int
	}{
		{"POST /lab HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n8100\r\n0\r\n\r\n", 411},
		{"POST /lab HTTP/1.1\r\nHost: x\r\n\r\n", 411},
		{"POST /lab HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n8100", 400},
		{"POST /lab HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n8100", 400},
		{"GET /lab?frames=8100 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n8100", 400},
		{"PUT /lab HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n8100", 405},
	} {
		if status := rawStatus(t, addr, tt.req); status != tt.status {
			t.Errorf("%q: %d, want %d", tt.req, status, tt.status)
		}
	}

	off, _ := startServer(t, func(c *config) { c.lab = false })
	for _, target := range []string{"/lab?frames=818537fa213d7f9f4d5158", "/lab.html"} {
		resp, err := http.Get("http://" + off + target)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("-lab=false: %s is %d, want 404", target, resp.StatusCode)
		}
	}
	if status, _ := postLab(t, off, []byte{0x81, 0}); status != 405 {
		t.Errorf("-lab=false: POST /lab is %d, want 405", status)
	}
}

// rawStatus sends req as it is and returns the answer's status.
func rawStatus(t *testing.T, addr, req string) int {
	t.Helper()
	_, br := rawConn(t, addr, req) // abuse_test.go
	var status int
	line, _ := io.ReadAll(io.LimitReader(br, 12))
	fmt.Sscanf(string(line), "HTTP/1.1 %d", &status)
	return status
}

// TestLabBudget: a run's memory is paid from the budget: with none left,
// the lab refuses with 503 and holds nothing afterwards.
func TestLabBudget(t *testing.T) {
	addr, srv := startServer(t, func(c *config) { c.maxBuffered = 64 << 10 })
	in := labFrames(wstest.Frame{Fin: true, Opcode: 2, Payload: make([]byte, 100<<10)})
	if status, body := postLab(t, addr, in); status != 503 {
		t.Fatalf("a run past the budget: %d %.200s, want 503", status, body)
	}
	for _, n := range []int{8 << 10, 1 << 10} { // POST, then GET
		if r := lab(t, addr, labFrames(wstest.Frame{Fin: true, Opcode: 2, Payload: make([]byte, n)})); r.Close != nil || len(r.Out) != 1 {
			t.Fatalf("a run within the budget: close %+v, %d frames out", r.Close, len(r.Out))
		}
	}
	if used, holders := srv.budget.used.Load(), srv.budget.holders.Load(); used != 0 || holders != 0 {
		t.Fatalf("%d bytes of the budget still held after the runs, by %d holders", used, holders)
	}
}

// TestLabBodyIsPaid: a POST's body is paid from the budget as its bytes
// arrive, never for the length it announces: a client that announces
// 100 KiB, sends 1 KiB and stalls holds about 2 KiB; it ends with 408 when
// -handshake-timeout passes, and one the budget cannot pay for with 503.
func TestLabBodyIsPaid(t *testing.T) {
	s := newServer(config{maxBuffered: 64 << 10, handshakeTimeout: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	nc, peer := net.Pipe()
	defer nc.Close()
	defer peer.Close()
	req := &request{method: "POST", minor: 1, hasBody: true, bodyLength: 100 << 10}
	charged := &wsConn{}
	charged.budget = s.budget
	done := make(chan *httpError, 1)
	go func() {
		_, he := s.labInput(nc, bufio.NewReader(nc), req, charged)
		done <- he
	}()
	if _, err := peer.Write(make([]byte, 1<<10)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the 1 KiB that arrived to be paid for", func() bool { return s.budget.used.Load() >= 1<<10 })
	if used := s.budget.used.Load(); used > 2<<10 {
		t.Fatalf("1 KiB of an announced 100 KiB arrived, and the budget holds %d bytes for it", used)
	}
	if he := <-done; he == nil || he.status != 408 {
		t.Fatalf("a body that stalls: %v, want 408", he)
	}
	s.budget.give(charged, int(charged.held.Load()), false)

	body := make([]byte, 40<<10)
	req.bodyLength = int64(len(body))
	in, he := s.labInput(nc, bufio.NewReader(bytes.NewReader(body)), req, charged)
	if he != nil || len(in) != len(body) {
		t.Fatalf("%v, %d bytes", he, len(in))
	}
	if used := s.budget.used.Load(); used < int64(len(body)) {
		t.Fatalf("the budget holds %d bytes for a body of %d", used, len(body))
	}
	s.budget.give(charged, int(charged.held.Load()), false)
	req.bodyLength = 100 << 10
	if _, he := s.labInput(nc, bufio.NewReader(bytes.NewReader(make([]byte, 100<<10))), req, charged); he == nil || he.status != 503 {
		t.Fatalf("a body past the budget: %v, want 503", he)
	}
}

// TestLabAnswerIsPaid: the answer is paid from the budget until it has
// been written (release), the body and the run's buffers no longer, and
// nothing is held after; a run the budget cannot pay for is told when to
// come back (Retry-After), as a full server tells a connection.
func TestLabAnswerIsPaid(t *testing.T) {
	s := newServer(config{maxBuffered: 1 << 20, maxMessage: 1 << 20, handshakeTimeout: time.Second, lab: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	nc, peer := net.Pipe()
	defer nc.Close()
	defer peer.Close()
	in := labFrames(wstest.Frame{Fin: true, Opcode: 2, Payload: make([]byte, 8<<10)})
	req := &request{method: "POST", minor: 1, hasBody: true, bodyLength: int64(len(in))}
	resp, release, err := s.serveLab(nc, bufio.NewReader(bytes.NewReader(in)), req)
	if err != nil {
		t.Fatal(err)
	}
	if used := s.budget.used.Load(); used != int64(len(resp)) {
		t.Fatalf("the budget holds %d bytes while an answer of %d waits to be written", used, len(resp))
	}
	release()
	if used := s.budget.used.Load(); used != 0 {
		t.Fatalf("%d bytes still held after the answer was written", used)
	}

	addr, _ := startServer(t, func(c *config) { c.maxBuffered = 64 << 10 })
	r, err := http.Post("http://"+addr+"/lab", "text/plain", bytes.NewReader(labFrames(wstest.Frame{Fin: true, Opcode: 2, Payload: make([]byte, 100<<10)})))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 503 || r.Header.Get("Retry-After") == "" || r.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("a run past the budget: %d, Retry-After %q, Access-Control-Allow-Origin %q", r.StatusCode, r.Header.Get("Retry-After"), r.Header.Get("Access-Control-Allow-Origin"))
	}
}

// TestLabInChromium: lab.html from disk and from the server: a preset run
// from the page gets the server's verdict; a bit clicked changes the hex
// and the verdict; the article's column for the 130-byte frame reads
// payloadLength 126 and the length bytes as its masking key; the
// permalink opens the lab with its bytes and runs them.
func TestLabInChromium(t *testing.T) {
	devtools := startChromium(t)
	addr, _ := startServer(t, nil)
	file, err := filepath.Abs("lab.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, url string }{
		{"file", "file://" + file},
		{"http", "http://" + addr + "/lab.html"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := openPage(t, devtools)
			page.call("Page.navigate", map[string]any{"url": tc.url})
			var got struct {
				Unmasked, HelloHex, Hello, FlippedHex, Flipped string
				App2                                           [][2]string
				Wrong                                          []string
			}
			page.eval(`
				await until("the page to load", () => document.readyState === "complete" && $("run"));
				$("server").value = "http://`+addr+`";
				const verdict = async (what, go) => {
					$("verdict").textContent = "";
					go();
					await until(what, () => $("verdict").textContent !== "");
					return $("verdict").textContent;
				};
				const preset = (id) => verdict(id, () => { $("preset").value = id; $("preset").dispatchEvent(new Event("change")); });
				const r = {};
				r.unmasked = await preset("unmasked");
				r.hello = await preset("rfc-hello");
				r.helloHex = $("hex").value;
				document.querySelector('#bits [data-bit="8"]').click(); // MASK off
				r.flippedHex = $("hex").value;
				r.flipped = await verdict("run", () => $("run").click());
				await preset("len130");
				r.app2 = Array.from($("app2").rows, (tr) => [tr.cells[0].textContent, tr.cells[1] ? tr.cells[1].textContent : ""]);
				r.wrong = Array.from($("app2").querySelectorAll("tr.wrong"), (tr) => tr.cells[0].textContent.split(" ")[0]);
				return r;`, &got)
			if !strings.Contains(got.Unmasked, "1002 Protocol error") {
				t.Errorf("the unmasked preset: %q, want 1002", got.Unmasked)
			}
			if got.HelloHex != "81 85 37 fa 21 3d 7f 9f 4d 51 58" || !strings.Contains(got.Hello, "1 frame(s) sent back") {
				t.Errorf("§5.7's masked Hello: %q, %q", got.HelloHex, got.Hello)
			}
			if got.FlippedHex != "81 05 48 65 6c 6c 6f" || !strings.Contains(got.Flipped, "1002") {
				t.Errorf("MASK clicked off: %q, %q; want 81 05 48 65 6c 6c 6f and 1002", got.FlippedHex, got.Flipped)
			}
			app2 := map[string]string{}
			for _, row := range got.App2 {
				app2[strings.Split(row[0], " ")[0]] = row[1]
			}
			if app2["payloadLength"] != "126" || app2["mask"] != "00 82 37 fa" {
				t.Errorf("app2.js's reading of the 130-byte frame: %v; want payloadLength 126, mask 00 82 37 fa", app2)
			}
			if w := strings.Join(got.Wrong, " "); w != "isMask payloadLength mask payload" {
				t.Errorf("fields marked wrong: %q", w)
			}
			page.mu.Lock()
			defer page.mu.Unlock()
			if len(page.errors) > 0 {
				t.Fatalf("console errors:\n%s", strings.Join(page.errors, "\n"))
			}
		})
	}
	t.Run("permalink", func(t *testing.T) {
		page := openPage(t, devtools)
		page.call("Page.navigate", map[string]any{"url": "http://" + addr + "/lab.html?frames=818537fa213d7f9f4d5158"})
		var got struct{ Verdict, Out string }
		page.eval(`
			await until("the run", () => $("verdict") && $("verdict").dataset.kind);
			return {verdict: $("verdict").textContent, out: $("out").textContent};`, &got)
		if !strings.Contains(got.Verdict, "1 frame(s) sent back") || !strings.Contains(got.Out, "81 05") || !strings.Contains(got.Out, `"Hello"`) {
			t.Fatalf("the permalink's run: %+v", got)
		}
	})
}

// FuzzLab: whatever the bytes, a run ends with a close or a wait, never
// both, and gives back all it paid for.
func FuzzLab(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})
	f.Add(labFrames(wstest.Frame{Opcode: 1, Payload: []byte("Hel")}, wstest.Frame{Fin: true, Opcode: 9, Payload: []byte("x")}))
	f.Add([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe7})
	s := newServer(config{maxMessage: 1 << 20, maxBuffered: 1 << 20}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &wsConn{}
		c.budget = s.budget
		ans, he := s.runLab(in, c)
		if he != nil {
			if he.status != 400 {
				t.Fatalf("refused with %d: %s", he.status, he.msg)
			}
			return
		}
		if ans.Close != nil && ans.Waiting != nil {
			t.Fatalf("closed (%+v) and waiting (%+v)", ans.Close, ans.Waiting)
		}
		if used := s.budget.used.Load(); used != 0 {
			t.Fatalf("%d bytes of the budget held after the run", used)
		}
	})
}
