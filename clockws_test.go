package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestClockWS: /clock/ws pushes the time at the turn of every second, as
// unmasked text frames, with nothing sent by the client; it closes 1000
// when asked, 1003 for a message, and 1001 at shutdown. The clock stands
// still between ticks, so no tick can come before an expected Close.
func TestClockWS(t *testing.T) {
	clk := fakeTime(t)
	addr, srv := startServer(t, nil)
	c := dialPath(t, addr, clockWSPath)
	c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	for i, want := range []string{"2019-03-23 17:45:52", "2019-03-23 17:45:53", "2019-03-23 17:45:54"} {
		clk.tick(t, fakeSecond(52+i), 1)
		f := c.read() // readServerFrame checks: unmasked, FIN, RSV 0, shortest length
		if f.opcode != 1 || string(f.payload) != want {
			t.Fatalf("tick %d: opcode %d %q; want %q as text", i, f.opcode, f.payload, want)
		}
	}
	c.send(closeFrame(1000, ""))
	c.expectCloseReply(1000)
	c.expectEOF()
	clk.waiting(t, time.Time{}, 0) // the clock's goroutine ended with its connection

	talker := dialPath(t, addr, clockWSPath)
	talker.nc.SetDeadline(time.Now().Add(10 * time.Second))
	talker.send(text("hello?"))
	talker.expectClose(1003)
	clk.waiting(t, time.Time{}, 0)

	last := dialPath(t, addr, clockWSPath)
	last.nc.SetDeadline(time.Now().Add(10 * time.Second))
	clk.tick(t, fakeSecond(55), 1)
	if f := last.read(); string(f.payload) != "2019-03-23 17:45:55" {
		t.Fatalf("the last client's tick: %q", f.payload)
	}
	done := make(chan struct{})
	go func() { srv.shutdown(); close(done) }()
	last.expectClose(1001)
	<-done
}

// countingConn counts the bytes a raw client sends and receives.
type countingConn struct {
	net.Conn
	in, out int
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in += n
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out += n
	return n, err
}

// pushCounts reads /clock/stats for a page.
func pushCounts(t *testing.T, addr, client string) map[string]map[string]int64 {
	t.Helper()
	resp := get(t, addr, "/clock/stats?client="+client)
	var counts map[string]map[string]int64
	if err := json.NewDecoder(resp.Body).Decode(&counts); err != nil {
		t.Fatal(err)
	}
	return counts
}

const statsClient = "page0123456789abcdefXYZ"

// TestPushByteCounts: what the server reports a technique cost a page is
// what a raw client actually sent and received, headers and frames included.
func TestPushByteCounts(t *testing.T) {
	clk := fakeTime(t)
	addr, _ := startServer(t, nil)

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	poll := &countingConn{Conn: nc}
	io.WriteString(poll, "GET /clock?client="+statsClient+" HTTP/1.1\r\nHost: x\r\n\r\n")
	io.Copy(io.Discard, poll) // Connection: close: the answer ends with the connection
	nc.Close()

	nc2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	nc2.SetDeadline(time.Now().Add(10 * time.Second))
	ws := &countingConn{Conn: nc2}
	io.WriteString(ws, upgradeRequestPath(addr, clockWSPath+"?client="+statsClient, "dGhlIHNhbXBsZSBub25jZQ=="))
	br := bufio.NewReader(ws)
	checkResponse(t, br, 101, "")
	for i := range 2 {
		clk.tick(t, fakeSecond(52+i), 1)
		if f, err := readServerFrame(br); err != nil || f.opcode != 1 {
			t.Fatalf("tick: %v", err)
		}
	}
	ws.Write(frames(closeFrame(1000, "")))
	io.Copy(io.Discard, br) // the rest: the Close, then the server's FIN

	var counts map[string]map[string]int64
	waitFor(t, "the counts are final", func() bool {
		counts = pushCounts(t, addr, statsClient)
		return counts["ws"] != nil && counts["ws"]["open"] == 0 && counts["poll"] != nil
	})
	if p := counts["poll"]; p["bytesIn"] != int64(poll.out) || p["bytesOut"] != int64(poll.in) || p["updates"] != 1 || p["requests"] != 1 {
		t.Errorf("poll counted %v; the client sent %d bytes and received %d", p, poll.out, poll.in)
	}
	if w := counts["ws"]; w["bytesIn"] != int64(ws.out) || w["bytesOut"] != int64(ws.in) || w["updates"] != 2 {
		t.Errorf("ws counted %v; the client sent %d bytes and received %d", w, ws.out, ws.in)
	}
}

// TestPushDrop: the drop button ends a page's EventSource stream from the
// server's side (its body ends, the browser then reconnects), and only that page's.
func TestPushDrop(t *testing.T) {
	clk := fakeTime(t)
	addr, _ := startServer(t, nil)
	resp := get(t, addr, "/clock/events?client="+statsClient)
	other := bufio.NewReader(get(t, addr, "/clock/events?client=another0123456789abcdefg").Body)
	r := bufio.NewReader(resp.Body)
	clk.tick(t, fakeSecond(52), 2)
	readEvent(t, r)
	readEvent(t, other)
	drop := get(t, addr, "/clock/drop?client="+statsClient+"&what=events")
	var got map[string]int
	json.NewDecoder(drop.Body).Decode(&got)
	if got["dropped"] != 1 {
		t.Fatalf("drop answered %v; want 1 dropped", got)
	}
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("the dropped stream: %v; want its body ended, as at shutdown", err)
	}
	clk.tick(t, fakeSecond(53), 1) // the other page's goes on, alone
	if e := readEvent(t, other); e.id != "1" {
		t.Fatalf("the other page's next event: %+v", e)
	}
}

// TestPollKeepAlive: with ?keepalive=1 two polls share one connection.
func TestPollKeepAlive(t *testing.T) {
	addr, _ := startServer(t, nil)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	for i := range 2 {
		io.WriteString(nc, "GET /clock?keepalive=1 HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if !clockPattern.MatchString(strings.TrimSpace(string(body))) || resp.Close {
			t.Fatalf("poll %d: %q, close %v", i, body, resp.Close)
		}
	}
}
