package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// TestAcceptKey: article 3.3.3's example, and RFC 6455 §1.3's.
func TestAcceptKey(t *testing.T) {
	tests := []struct{ key, want string }{
		{"IHfMdf8a0aQXbwQO1pkGdA==", "aWAY+V/uyz5ILZEoWuWdxjnlb7E="}, // article 3.3.2-3.3.3
		{"dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}, // RFC 6455 §1.3
	}
	for _, tt := range tests {
		if got := acceptKey(tt.key); got != tt.want {
			t.Errorf("acceptKey(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

// articleRequest is article 3.3.1's request, as it is on the wire.
const articleRequest = "GET ws://localhost:8888/ HTTP/1.1\r\n" +
	"Host: localhost:8888\r\n" +
	"Connection: Upgrade\r\n" +
	"Upgrade: websocket\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"Sec-WebSocket-Key: IHfMdf8a0aQXbwQO1pkGdA==\r\n" +
	"\r\n"

// TestArticleHandshake: the article's request gets the article's 101 (3.3.2),
// byte for byte, and bytes after the request stay for the frames.
func TestArticleHandshake(t *testing.T) {
	in := articleRequest + string(rfcMaskedHello)
	for name, r := range map[string]io.Reader{
		"one read":        strings.NewReader(in),
		"one byte a read": iotest.OneByteReader(strings.NewReader(in)),
		"half and half":   io.MultiReader(strings.NewReader(in[:40]), strings.NewReader(in[40:])),
	} {
		t.Run(name, func(t *testing.T) {
			br := bufio.NewReaderSize(r, readBufferSize)
			var out bytes.Buffer
			req, err := handshakeOf(br, &out, defaultMaxHeaderBytes, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := "HTTP/1.1 101 Switching Protocols\r\n" +
				"Upgrade: websocket\r\n" +
				"Connection: Upgrade\r\n" +
				"Sec-WebSocket-Accept: aWAY+V/uyz5ILZEoWuWdxjnlb7E=\r\n" +
				"\r\n"
			if out.String() != want {
				t.Fatalf("response:\n%q\nwant\n%q", out.String(), want)
			}
			if req.target != "ws://localhost:8888/" || req.host != "localhost:8888" {
				t.Fatalf("parsed %+v", req)
			}
			rest, _ := io.ReadAll(br)
			if !bytes.Equal(rest, rfcMaskedHello) {
				t.Fatalf("bytes after the request: % x, want the first frame", rest)
			}
		})
	}
}

// errNotWebSocket is handshakeOf's answer to a plain HTTP request.
var errNotWebSocket = errors.New("plain HTTP request")

// handshakeOf reads a request head from br and answers it as serveConn
// does: a WebSocket request with handshake, whose refusal is answered with
// its HTTP error, as is a malformed head; a plain request is left alone.
func handshakeOf(br *bufio.Reader, w io.Writer, maxHeaderBytes int, tr *tracer) (*request, error) {
	req, err := readRequest(br, maxHeaderBytes)
	if err == nil && !req.isWebSocket() {
		return req, errNotWebSocket
	}
	if err == nil {
		_, err = handshake(w, req, handshakeRules{}, tr)
	}
	if he, ok := errors.AsType[*httpError](err); ok {
		w.Write(errorResponse(he))
	}
	if err != nil {
		return nil, err
	}
	return req, nil
}

// articleRequestWith builds a handshake request from the article's, with header lines
// replaced ("Name: value"), removed ("Name:" alone) or added.
func articleRequestWith(first string, changes ...string) string {
	lines := strings.Split(strings.TrimSuffix(articleRequest, "\r\n\r\n"), "\r\n")
	if first != "" {
		lines[0] = first
	}
	for _, c := range changes {
		name, _, _ := strings.Cut(c, ":")
		found := false
		for i := 1; i < len(lines); i++ {
			if n, _, _ := strings.Cut(lines[i], ":"); strings.EqualFold(n, name) && !found {
				lines[i] = c
				found = true
			}
		}
		if !found {
			lines = append(lines, c)
		}
	}
	var kept []string
	for _, l := range lines {
		if !strings.HasSuffix(l, ":") {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "\r\n") + "\r\n\r\n"
}

// handshakeCases are requests and the status each must get. Shared by the
// in-memory test here and the loopback test in server_test.go.
var handshakeCases = []struct {
	name   string
	req    string
	status int
	header string // a header the answer must carry, "Name: value"
}{
	{"article request", articleRequest, 101, "Sec-WebSocket-Accept: aWAY+V/uyz5ILZEoWuWdxjnlb7E="},
	{"Firefox Connection list", articleRequestWith("", "Connection: keep-alive, Upgrade"), 101, ""},
	{"header names in upper case", "GET / HTTP/1.1\r\nHOST: x\r\nCONNECTION: UPGRADE\r\nUPGRADE: WEBSOCKET\r\n" +
		"SEC-WEBSOCKET-VERSION: 13\r\nSEC-WEBSOCKET-KEY: IHfMdf8a0aQXbwQO1pkGdA==\r\n\r\n", 101, ""},
	{"lower-case names and tokens", articleRequestWith("", "connection: upgrade", "upgrade: WebSocket", "sec-websocket-key: IHfMdf8a0aQXbwQO1pkGdA=="), 101, ""},
	{"repeated Upgrade headers", articleRequestWith("", "Upgrade: h2c", "Upgrade: websocket"), 101, ""},
	{"Origin null", articleRequestWith("", "Origin: null"), 101, ""},
	{"extensions offered, none taken", articleRequestWith("", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"), 101, ""},
	{"bare LF line ends", strings.ReplaceAll(articleRequest, "\r\n", "\n"), 101, ""},
	{"HTTP/1.2", articleRequestWith("GET / HTTP/1.2"), 101, ""},
	{"POST", articleRequestWith("POST / HTTP/1.1"), 405, "Allow: GET"},
	{"HTTP/1.0", articleRequestWith("GET / HTTP/1.0"), 400, ""},
	{"garbage request line", articleRequestWith("hello"), 400, ""},
	{"no Host", articleRequestWith("", "Host:"), 400, ""},
	{"two Hosts", strings.Replace(articleRequest, "\r\n", "\r\nHost: b\r\n", 1), 400, ""},
	{"no Upgrade", articleRequestWith("", "Upgrade:"), 400, ""},
	{"Upgrade not websocket", articleRequestWith("", "Upgrade: h2c"), 400, ""},
	{"Connection keep-alive only", articleRequestWith("", "Connection: keep-alive"), 400, ""},
	{"no key", articleRequestWith("", "Sec-WebSocket-Key:"), 400, ""},
	{"key of 15 bytes", articleRequestWith("", "Sec-WebSocket-Key: "+base64.StdEncoding.EncodeToString(make([]byte, 15))), 400, ""},
	{"key not base64", articleRequestWith("", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="), 400, ""},
	{"version 8", articleRequestWith("", "Sec-WebSocket-Version: 8"), 426, "Sec-WebSocket-Version: 13"},
	{"no version", articleRequestWith("", "Sec-WebSocket-Version:"), 426, "Sec-WebSocket-Version: 13"},
	{"header line without colon", articleRequestWith("", "Nonsense"), 400, ""},
	{"space before colon", articleRequestWith("", "Host : x"), 400, ""},
	{"obsolete line folding", strings.Replace(articleRequest, "Upgrade: websocket", "Upgrade:\r\n websocket", 1), 400, ""},
	{"9 KiB of headers", articleRequestWith("", "X-Big: "+strings.Repeat("a", 9<<10)), 431, ""},
	{"64 KiB header", articleRequestWith("", "X-Big: "+strings.Repeat("a", 64<<10)), 431, ""},
	{"many small headers", articleRequestWith("", strings.Repeat("X-A: b\r\n", 2000)+"X-End: c"), 431, ""},
}

// checkResponse reads one HTTP response and checks its status, header, and
// for an error the one-line plain-text body with a right Content-Length.
func checkResponse(t *testing.T, br *bufio.Reader, status int, header string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d (%s), want %d", resp.StatusCode, strings.TrimSpace(string(body)), status)
	}
	if header != "" {
		name, value, _ := strings.Cut(header, ": ")
		if got := resp.Header.Get(name); got != value {
			t.Fatalf("%s: %q, want %q", name, got, value)
		}
	}
	if status == 101 {
		if resp.Header.Get("Sec-WebSocket-Extensions") != "" || resp.Header.Get("Sec-WebSocket-Protocol") != "" {
			t.Fatal("101 chose an extension or subprotocol nobody negotiated")
		}
		return
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != int64(len(body)) || strings.Count(string(body), "\n") != 1 || len(body) < 5 {
		t.Fatalf("body %q with Content-Length %d: want one line saying why", body, resp.ContentLength)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
}

func TestHandshakeStatuses(t *testing.T) {
	for _, tt := range handshakeCases {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := handshakeOf(bufio.NewReader(strings.NewReader(tt.req)), &out, defaultMaxHeaderBytes, nil)
			if he, ok := errors.AsType[*httpError](err); ok != (tt.status != 101) || ok && he.status != tt.status {
				t.Fatalf("handshake error %v, want status %d", err, tt.status)
			}
			checkResponse(t, bufio.NewReader(&out), tt.status, tt.header)
			if tt.status != 101 {
				return
			}
			if rest := out.Len(); rest != 0 {
				t.Fatalf("%d bytes after the response", rest)
			}
		})
	}
}

// TestTruncatedRequest: a request cut short is an I/O error, answered with nothing.
func TestTruncatedRequest(t *testing.T) {
	for _, cut := range []int{0, 10, len(articleRequest) - 2} {
		var out bytes.Buffer
		_, err := handshakeOf(bufio.NewReader(strings.NewReader(articleRequest[:cut])), &out, defaultMaxHeaderBytes, nil)
		if err == nil || out.Len() != 0 {
			t.Fatalf("cut at %d: err %v, wrote %q", cut, err, out.String())
		}
		if _, ok := errors.AsType[*httpError](err); ok {
			t.Fatalf("cut at %d: answered %v to a request that never finished", cut, err)
		}
	}
}

// TestHasToken: comma lists, any case, spaces around items.
func TestHasToken(t *testing.T) {
	tests := []struct {
		list, token string
		want        bool
	}{
		{"Upgrade", "upgrade", true},
		{"keep-alive, Upgrade", "upgrade", true},
		{"keep-alive,upgrade", "upgrade", true},
		{"keep-alive", "upgrade", false},
		{"upgrades", "upgrade", false},
		{"", "upgrade", false},
		{"h2c ,\tWebSocket ", "websocket", true},
	}
	for _, tt := range tests {
		if got := hasToken(tt.list, tt.token); got != tt.want {
			t.Errorf("hasToken(%q, %q) = %v", tt.list, tt.token, got)
		}
	}
}

// TestRepeatedListHeaders: a repeated list header is joined with ", "
// (RFC 9110 §5.3), and a head of many repeats costs memory in proportion
// to its size, not to its square, whatever -max-header-bytes allows.
func TestRepeatedListHeaders(t *testing.T) {
	head := "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: Upgrade\r\n" +
		strings.Repeat("X-Forwarded-For: 203.0.113.7\r\n", 10000) + "\r\n"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	req, err := readRequest(bufio.NewReader(strings.NewReader(head)), len(head))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if req.connection != "keep-alive, Upgrade" || len(req.forwardFor) != 10000*len("203.0.113.7, ")-2 {
		t.Fatalf("Connection %q, X-Forwarded-For of %d bytes", req.connection, len(req.forwardFor))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 16*uint64(len(head)) {
		t.Fatalf("a head of %d bytes cost %d bytes of allocation", len(head), got)
	}
}

// FuzzReadRequest feeds arbitrary bytes to the request parser: it must not
// panic, must answer either a 101 with the right key or a well-formed error.
func FuzzReadRequest(f *testing.F) {
	for _, tt := range handshakeCases {
		if len(tt.req) < 2000 {
			f.Add([]byte(tt.req))
		}
	}
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		req, err := handshakeOf(bufio.NewReader(bytes.NewReader(in)), &out, 1024, nil)
		if err == nil {
			k, derr := base64.StdEncoding.DecodeString(req.key)
			if derr != nil || len(k) != 16 || req.method != "GET" || req.version != "13" {
				t.Fatalf("accepted %+v", req)
			}
			if !strings.Contains(out.String(), "Sec-WebSocket-Accept: "+acceptKey(req.key)+"\r\n") {
				t.Fatalf("101 without the right accept key: %q", out.String())
			}
			return
		}
		if he, ok := errors.AsType[*httpError](err); ok {
			resp, rerr := http.ReadResponse(bufio.NewReader(&out), nil)
			if rerr != nil || resp.StatusCode != he.status {
				t.Fatalf("error answer unreadable: %v %q", rerr, out.String())
			}
			return
		}
		if err == errNotWebSocket {
			if req == nil || req.isWebSocket() || out.Len() != 0 {
				t.Fatalf("plain request %+v answered %q by the handshake", req, out.String())
			}
			return
		}
		if out.Len() != 0 {
			t.Fatalf("answered %q to a cut-short request", out.String())
		}
	})
}
