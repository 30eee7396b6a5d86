package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// clockPattern is the clock's one fixed format (push.go:clockText), not
// the article's toLocaleString, whose format depends on the locale.
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

// testClock is the clock the tests' servers run on (pushTime). It is the
// real one until a test calls fakeTime, which stops it at fakeStart; from
// then on, until that test ends, it moves only when the test
// moves it (tick), so that a wait of seconds takes none and every time the
// server sends is known.
type testClock struct {
	mu    sync.Mutex
	fake  bool
	at    time.Time   // the fake time
	calls []*fakeCall // the calls pending on the fake time
}

// fakeCall is a call of afterFunc's, pending until the fake time reaches at.
type fakeCall struct {
	at time.Time
	f  func()
}

// tclock is put in place before any test starts, so that pushTime never
// changes while a server's goroutine may read it.
var tclock = &testClock{}

func init() { pushTime = tclock }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fake {
		return time.Now()
	}
	return c.at
}

func (c *testClock) afterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fake {
		return realClock{}.afterFunc(d, f)
	}
	call := &fakeCall{at: c.at.Add(d), f: f}
	c.calls = append(c.calls, call)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		n := len(c.calls)
		c.calls = slices.DeleteFunc(c.calls, func(p *fakeCall) bool { return p == call })
		return len(c.calls) < n
	}
}

// fakeStart is where the tests stop the clock: a fixed time, past the turn
// of a second, so that a wait for the next one must round up to it.
var fakeStart = time.Date(2019, 3, 23, 17, 45, 51, 250*int(time.Millisecond), time.UTC)

// fakeSecond is the turn of the given second of fakeStart's minute.
func fakeSecond(s int) time.Time {
	return fakeStart.Truncate(time.Minute).Add(time.Duration(s) * time.Second)
}

// fakeTime stops the clock at fakeStart until the test ends. A test calls
// it before it starts its server or opens its connections: cleanups run
// last registered first, so the real clock comes back only once they are
// gone. Calls still pending then are dropped, not made: what waits for them
// ends with its connection, and made, they could wake it into waiting on
// the next test's fake clock.
func fakeTime(t *testing.T) *testClock {
	tclock.mu.Lock()
	tclock.fake, tclock.at, tclock.calls = true, fakeStart, nil
	tclock.mu.Unlock()
	t.Cleanup(func() {
		tclock.mu.Lock()
		tclock.fake, tclock.calls = false, nil
		tclock.mu.Unlock()
	})
	return tclock
}

// waiting waits until exactly n calls are pending, and checks that they
// are all for the time at: the server waits for what it should, no more
// and no less.
func (c *testClock) waiting(t *testing.T, at time.Time, n int) {
	t.Helper()
	var times []string
	waitFor(t, fmt.Sprintf("the server waits on the clock %d times", n), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		times = times[:0]
		for _, call := range c.calls {
			times = append(times, call.at.Format(time.StampMilli))
		}
		return len(c.calls) == n
	})
	for _, got := range times {
		if want := at.Format(time.StampMilli); got != want {
			t.Fatalf("the server waits until %v; want %s", times, want)
		}
	}
}

// tick waits until n calls are pending, all for the time at (waiting),
// then moves the clock on to at and makes them.
func (c *testClock) tick(t *testing.T, at time.Time, n int) {
	t.Helper()
	c.waiting(t, at, n)
	c.mu.Lock()
	c.at = at
	calls := c.calls
	c.calls = nil
	c.mu.Unlock()
	for _, call := range calls {
		call.f()
	}
}

// TestClockPoll: article 2.1, answered at once with the time.
func TestClockPoll(t *testing.T) {
	fakeTime(t)
	addr, _ := startServer(t, nil)
	resp := get(t, addr, "/clock")
	checkPushHeaders(t, resp, "text/plain; charset=utf-8")
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "2019-03-23 17:45:51\n" || resp.ContentLength != int64(len(body)) {
		t.Fatalf("body %q, Content-Length %d; want the clock's time", body, resp.ContentLength)
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

// TestClockLong: article 2.2, held until the next second that is a
// multiple of 5, and then answered with that time.
func TestClockLong(t *testing.T) {
	clk := fakeTime(t)
	addr, _ := startServer(t, nil)
	_, br := rawConn(t, addr, "GET /clock/long HTTP/1.1\r\nHost: x\r\n\r\n")
	clk.tick(t, fakeSecond(55), 1)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkPushHeaders(t, resp, "text/plain; charset=utf-8")
	if body, _ := io.ReadAll(resp.Body); string(body) != "2019-03-23 17:45:55\n" {
		t.Fatalf("answered %q; want the time it was held until", body)
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

// TestClockEvents: article 2.4, an event at the turn of every second with
// id, event, retry and data; a reconnection with Last-Event-ID resumes
// after it.
func TestClockEvents(t *testing.T) {
	clk := fakeTime(t)
	addr, _ := startServer(t, nil)
	resp := get(t, addr, "/clock/events")
	checkPushHeaders(t, resp, "text/event-stream; charset=utf-8")
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("transfer encoding %v, want chunked", resp.TransferEncoding)
	}
	r := bufio.NewReader(resp.Body)
	for i, want := range []string{"2019-03-23 17:45:52", "2019-03-23 17:45:53"} {
		clk.tick(t, fakeSecond(52+i), 1) // one wait, for the next second
		if e := readEvent(t, r); e != (sseEvent{id: strconv.Itoa(i), event: "clock", retry: "2000", data: want}) {
			t.Fatalf("event %d: %+v; want id %d at %s", i, e, i, want)
		}
	}
	resumed := bufio.NewReader(get(t, addr, "/clock/events", "Last-Event-ID: 41\r\n").Body)
	clk.tick(t, fakeSecond(54), 2) // both streams wait for the same second
	if e := readEvent(t, r); e.id != "2" || e.data != "2019-03-23 17:45:54" {
		t.Fatalf("the first stream's third event: %+v", e)
	}
	if e := readEvent(t, resumed); e.id != "42" || e.data != "2019-03-23 17:45:54" {
		t.Fatalf("after Last-Event-ID 41, the first event is %+v; want id 42", e)
	}
}

// TestClockIframe: article 2.3, an HTML page that gets a <script> at the
// turn of every second.
func TestClockIframe(t *testing.T) {
	clk := fakeTime(t)
	addr, _ := startServer(t, nil)
	resp := get(t, addr, "/clock/iframe")
	checkPushHeaders(t, resp, "text/html; charset=utf-8")
	r := bufio.NewReader(resp.Body)
	preamble := make([]byte, len(iframePreamble))
	if _, err := io.ReadFull(r, preamble); err != nil || string(preamble) != iframePreamble {
		t.Fatalf("the page starts %q, %v", preamble, err)
	}
	for n, time := range []string{"2019-03-23 17:45:52", "2019-03-23 17:45:53"} {
		clk.tick(t, fakeSecond(52+n), 1)
		line, err := r.ReadString('\n')
		want := fmt.Sprintf("<script>parent.postMessage({technique: \"iframe\", n: %d, time: %q}, \"*\")</script>\n", n, time)
		if err != nil || line != want {
			t.Fatalf("got %q, %v; want %q", line, err, want)
		}
	}
}

// TestPushStreamsEndWithTheirClient: a client that leaves a long poll or a
// stream frees its goroutine at once. The clock stands still, so nothing
// but the client's leaving can end them.
func TestPushStreamsEndWithTheirClient(t *testing.T) {
	fakeTime(t)
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
	waitIdle(t, srv, before)
}

// TestPushAndShutdown: at shutdown a stream ends its chunked body properly.
func TestPushAndShutdown(t *testing.T) {
	clk := fakeTime(t)
	addr, srv := startServer(t, nil)
	nc, br := rawConn(t, addr, "GET /clock/events HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(resp.Body)
	clk.tick(t, fakeSecond(52), 1)
	readEvent(t, r)
	clk.waiting(t, fakeSecond(53), 1)
	done := make(chan struct{})
	go func() { srv.shutdown(); close(done) }()
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("the stream did not end cleanly: %v", err)
	}
	nc.Close() // as a browser does at the body's end: the shutdown need not wait for it
	<-done
}

// TestLongPollAtShutdown: a held long poll is answered 503 when the server
// stops. The clock stands still, so the 200 cannot come first.
func TestLongPollAtShutdown(t *testing.T) {
	clk := fakeTime(t)
	addr, srv := startServer(t, nil)
	nc, br := rawConn(t, addr, "GET /clock/long HTTP/1.1\r\nHost: x\r\n\r\n")
	clk.waiting(t, fakeSecond(55), 1)
	done := make(chan struct{})
	go func() { srv.shutdown(); close(done) }()
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("got %v, %v: want 503", resp, err)
	}
	nc.Close() // as a browser does after a Connection: close answer: the shutdown need not wait for it
	<-done
}

// TestPushStatsApart: /clock/stats puts what opening and ending a
// connection costs apart from the updates' bytes, for push.html's bytes per
// update: a WebSocket's handshake and Close frames, a stream's request and
// head, a dropped long poll; and an update's bytes are its frame, or its
// request and answer.
func TestPushStatsApart(t *testing.T) {
	clk := fakeTime(t)
	addr, _ := startServer(t, nil)
	const client = "apart0123456789abcdefXYZ"

	// A WebSocket clock: a handshake, two updates of a frame each, a Close each way.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	ws := &countingConn{Conn: nc}
	io.WriteString(ws, upgradeRequestPath(addr, clockWSPath+"?client="+client, "dGhlIHNhbXBsZSBub25jZQ=="))
	br := bufio.NewReader(ws)
	checkResponse(t, br, 101, "")
	handshakeIn, handshakeOut := ws.out, ws.in-br.Buffered()
	for i := range 2 {
		clk.tick(t, fakeSecond(52+i), 1)
		if f, err := readServerFrame(br); err != nil || f.opcode != 1 {
			t.Fatalf("tick: %v", err)
		}
	}
	frame := int64(2 + len("2019-03-23 17:45:52")) // a text frame's 2-byte head and the time
	ws.Write(frames(closeFrame(1000, "")))
	io.Copy(io.Discard, br)

	// A long poll, dropped before its news: a request without an update.
	long, lbr := rawConn(t, addr, "GET /clock/long?client="+client+" HTTP/1.1\r\nHost: x\r\n\r\n")
	defer long.Close()
	clk.waiting(t, fakeSecond(55), 1)
	get(t, addr, "/clock/drop?client="+client+"&what=long")
	if resp, err := http.ReadResponse(lbr, nil); err != nil || resp.StatusCode != 204 {
		t.Fatalf("the dropped long poll: %v %v; want 204", resp, err)
	}

	var counts map[string]map[string]int64
	waitFor(t, "the counts are final", func() bool {
		counts = pushCounts(t, addr, client)
		return counts["ws"] != nil && counts["ws"]["open"] == 0 && counts["long"] != nil && counts["long"]["open"] == 0
	})
	w := counts["ws"]
	if w["updates"] != 2 || w["settled"] != 2 || w["updateBytesOut"] != 2*frame || w["updateBytesIn"] != 0 || w["handshakes"] != 1 {
		t.Errorf("ws counted %v; want 2 updates of %d bytes each, nothing from the client, 1 handshake", w, frame)
	}
	if w["apartBytesIn"] != int64(ws.out) || w["apartBytesOut"] != int64(ws.in)-2*frame ||
		w["apartBytesIn"] < int64(handshakeIn) || w["apartBytesOut"] < int64(handshakeOut) {
		t.Errorf("ws counted %v apart; want the handshake (%d and %d bytes) and the Close frames: all but the updates", w, handshakeIn, handshakeOut)
	}
	if l := counts["long"]; l["unanswered"] != 1 || l["updates"] != 0 || l["updateBytesIn"] != 0 || l["apartBytesIn"] != l["bytesIn"] || l["apartBytesOut"] != l["bytesOut"] {
		t.Errorf("long counted %v; want the dropped poll apart, as a request without news", l)
	}
}

// TestPushPageOnComet: push.html says what the article says of Comet
// (section 2): every sentence that names it, in English and in Chinese,
// gives it three implementations and names polling, long polling and the
// iframe stream, and not EventSource, which the article sets apart; none
// calls four techniques Comet.
func TestPushPageOnComet(t *testing.T) {
	page := string(pushHTML)
	sentences := regexp.MustCompile(`[.。!?！？]\s`).Split(strings.NewReplacer("。", "。 ", "；", "； ").Replace(page), -1)
	seen := 0
	for _, s := range sentences {
		if !strings.Contains(s, "Comet") {
			continue
		}
		seen++
		lower := strings.ToLower(s)
		names := strings.Contains(lower, "polling") && strings.Contains(lower, "long polling") && strings.Contains(lower, "iframe") ||
			strings.Contains(s, "轮询") && strings.Contains(s, "长轮询") && strings.Contains(s, "iframe")
		if strings.Contains(lower, "four") || strings.Contains(s, "四种") || strings.Contains(s, "合称") || strings.Contains(lower, "together") ||
			!(strings.Contains(lower, "three") || strings.Contains(s, "三种")) || !names || strings.Contains(s, "EventSource") {
			r := []rune(s)
			i := len([]rune(s[:strings.Index(s, "Comet")]))
			t.Errorf("push.html on Comet: %q; the article gives Comet three implementations", string(r[max(0, i-100):min(len(r), i+60)]))
		}
	}
	if seen < 2 {
		t.Errorf("push.html names Comet in %d sentences; want its account in English and in Chinese", seen)
	}
}
