package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// clockPattern is the clock's format, as the article's toLocaleString.
var clockPattern = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`)

// get sends a GET for path, with extra header lines, over a new connection.
func get(t *testing.T, addr, path string, extra ...string) *http.Response {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(nc, "GET "+path+" HTTP/1.1\r\nHost: "+addr+"\r\n"+strings.Join(extra, "")+"\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp // closing nc ends it: Body.Close would read a stream to its end
}

// checkPushHeaders checks what every clock answers with.
func checkPushHeaders(t *testing.T, resp *http.Response, contentType string) {
	t.Helper()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != contentType ||
		resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
}

// TestClockPoll: article 2.1, answered at once with the time.
func TestClockPoll(t *testing.T) {
	addr, _ := startServer(t, nil)
	resp := get(t, addr, "/clock")
	checkPushHeaders(t, resp, "text/plain; charset=utf-8")
	body, _ := io.ReadAll(resp.Body)
	if !clockPattern.MatchString(strings.TrimSpace(string(body))) || resp.ContentLength != int64(len(body)) {
		t.Fatalf("body %q, Content-Length %d", body, resp.ContentLength)
	}
}

func TestNextFive(t *testing.T) {
	base := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct{ at, want time.Duration }{
		{0, 5 * time.Second}, {time.Second, 5 * time.Second}, {4900 * time.Millisecond, 5 * time.Second},
		{5 * time.Second, 10 * time.Second}, {59 * time.Second, 60 * time.Second},
	} {
		if got := nextFive(base.Add(tt.at)); !got.Equal(base.Add(tt.want)) {
			t.Errorf("nextFive(+%v) = +%v, want +%v", tt.at, got.Sub(base), tt.want)
		}
	}
}

// TestClockLong: article 2.2, held until the next second that is a multiple of 5.
func TestClockLong(t *testing.T) {
	addr, _ := startServer(t, nil)
	start := time.Now()
	resp := get(t, addr, "/clock/long")
	checkPushHeaders(t, resp, "text/plain; charset=utf-8")
	body, _ := io.ReadAll(resp.Body)
	clock := strings.TrimSpace(string(body))
	if !clockPattern.MatchString(clock) || !strings.HasSuffix(clock, "0") && !strings.HasSuffix(clock, "5") {
		t.Fatalf("answered %q: want a time at a multiple of 5 seconds", clock)
	}
	if d := time.Since(start); d > 5200*time.Millisecond {
		t.Fatalf("answered after %v", d)
	}
}

// sseEvent is one event of an event stream.
type sseEvent struct{ id, event, retry, data string }

// readEvent reads one event, its fields up to the blank line (2.4.2).
func readEvent(t *testing.T, r *bufio.Reader) sseEvent {
	t.Helper()
	var e sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			return e
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "id":
			e.id = value
		case "event":
			e.event = value
		case "retry":
			e.retry = value
		case "data":
			e.data = value
		}
	}
}

// TestClockEvents: article 2.4, one event a second with id, event, retry
// and data; a reconnection with Last-Event-ID resumes after it.
func TestClockEvents(t *testing.T) {
	addr, _ := startServer(t, nil)
	resp := get(t, addr, "/clock/events")
	checkPushHeaders(t, resp, "text/event-stream; charset=utf-8")
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("transfer encoding %v, want chunked", resp.TransferEncoding)
	}
	r := bufio.NewReader(resp.Body)
	e0, e1 := readEvent(t, r), readEvent(t, r)
	if e0.id != "0" || e1.id != "1" || e0.event != "clock" || e0.retry != "2000" || !clockPattern.MatchString(e0.data) {
		t.Fatalf("events %+v %+v", e0, e1)
	}
	resp = get(t, addr, "/clock/events", "Last-Event-ID: 41\r\n")
	if e := readEvent(t, bufio.NewReader(resp.Body)); e.id != "42" {
		t.Fatalf("after Last-Event-ID 41, the first id is %q, want 42", e.id)
	}
}

// TestClockIframe: article 2.3, an HTML page that gets a <script> a second.
func TestClockIframe(t *testing.T) {
	addr, _ := startServer(t, nil)
	resp := get(t, addr, "/clock/iframe")
	checkPushHeaders(t, resp, "text/html; charset=utf-8")
	r := bufio.NewReader(resp.Body)
	scripts := 0
	for scripts < 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "<script>parent.postMessage({technique: \"iframe\"") {
			scripts++
		}
	}
}

// TestPushStreamsEndWithTheirClient: a client that leaves a long poll or a
// stream frees its goroutine at once, not at the next tick or answer.
func TestPushStreamsEndWithTheirClient(t *testing.T) {
	addr, srv := startServer(t, nil)
	before := runtime.NumGoroutine()
	for _, path := range []string{"/clock/long", "/clock/iframe", "/clock/events", "/clock/long", "/clock/events"} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(nc, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		waitFor(t, "the server serves "+path, func() bool { return plainCount(srv) == 1 })
		nc.Close()
		waitFor(t, "the server lets go of "+path, func() bool { return plainCount(srv) == 0 })
	}
	start := time.Now()
	waitIdle(t, srv, before)
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Fatalf("the pushes took %v to notice their clients had left", d)
	}
}

// TestPushAndShutdown: at shutdown a stream ends its chunked body properly.
func TestPushAndShutdown(t *testing.T) {
	addr, srv := startServer(t, nil)
	resp := get(t, addr, "/clock/events")
	r := bufio.NewReader(resp.Body)
	readEvent(t, r)
	go srv.shutdown()
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("the stream did not end cleanly: %v", err)
	}
}

// TestLongPollAtShutdown: a held long poll is answered 503 when the server
// stops. The request goes out at least a second before the next multiple of
// five seconds, so the 200 cannot come first.
func TestLongPollAtShutdown(t *testing.T) {
	addr, srv := startServer(t, nil)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	waitFor(t, "a second or more before the fifth", func() bool { return time.Until(nextFive(time.Now())) > time.Second })
	io.WriteString(nc, "GET /clock/long HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "the long poll is held", func() bool { return plainCount(srv) == 1 })
	go srv.shutdown()
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("got %v, %v: want 503", resp, err)
	}
}
