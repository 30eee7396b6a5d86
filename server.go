package main

// server.go accepts connections and runs one goroutine each, as the
// article's net.createServer gives one callback per socket; it keeps track
// of them for -max-conns and for the shutdown, and keeps a panic in one
// connection's code from costing more than that connection.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"
)

// closeLinger bounds how long a closing connection waits for the client's
// FIN after ours (see closeTCP).
const closeLinger = 2 * time.Second

// server accepts connections and keeps track of them for the shutdown.
type server struct {
	cfg      config
	log      *slog.Logger
	traceOut io.Writer // where -trace writes (stderr)
	origins  []string  // -origin, split

	budget    *budget   // -max-buffered: the bytes messages being received may hold (budget.go)
	inspector inspector // the page's view of its own connection's bytes (inspect.go)
	pushStats pushStats // push.html's counts of what each technique costs (pushstats.go)
	warn      *logLimit // repeated warnings, a few a second (logs.go)

	mu      sync.Mutex
	ln      net.Listener         // set by serve, closed by shutdown
	conns   map[net.Conn]tracked // every accepted connection, until it closes
	perIP   map[string]int       // how many of them each IP address holds
	closing bool                 // shutdown has begun
	stopBy  time.Time            // with closing: the shutdown's deadline
	wg      sync.WaitGroup       // one per connection goroutine
}

// newServer makes a server with the given settings, logging to log.
func newServer(cfg config, log *slog.Logger) *server {
	return &server{cfg: cfg, log: log, conns: make(map[net.Conn]tracked), perIP: make(map[string]int),
		traceOut: &lockedWriter{w: os.Stderr}, origins: cfg.originList(),
		budget: &budget{limit: int64(cfg.maxBuffered)}, warn: newLogLimit(log)}
}

// listen opens the listening TCP socket with the options of sockopt_linux.go;
// net gives every connection it accepts the keepalive of sockopt.go.
func listen(addr string, handshakeTimeout time.Duration) (net.Listener, error) {
	lc := net.ListenConfig{Control: listenControl(handshakeTimeout), KeepAliveConfig: keepAlive}
	return lc.Listen(context.Background(), "tcp", addr)
}

// serve is the accept loop: one goroutine per connection, as the article's
// net.createServer gives one callback per socket. It returns when ln closes.
func (s *server) serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return ln.Close()
	}
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of file descriptors, say: wait and try again rather than exit.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.warn.warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		switch s.admit(nc) {
		case admitted: // admit counted its goroutine in s.wg
			go s.serveConn(nc)
		case noRoom:
			s.warn.warn("too many connections: answered 503", "remote", nc.RemoteAddr().String(),
				"max-conns", s.cfg.maxConns, "max-conns-per-ip", s.cfg.maxConnsPerIP)
			turnAway(nc, errorResponse(errTooMany))
		default: // shutting down
			nc.Close()
		}
	}
}

// isClosing says whether shutdown has begun.
func (s *server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// tracked is where a connection is in its life, for the shutdown, and the
// address it is counted under for -max-conns-per-ip (admit.go).
type tracked struct {
	plain bool    // plain HTTP: a request being served, or a kept-alive poll's wait for the next (page.go, push.go)
	ws    *wsConn // a WebSocket; with plain, nil while the request head is read
	ip    string  // the client's address as counted in perIP; "" while a trusted proxy's connection has not said it (proxy.go)
}

// track records a tracked connection's new phase.
func (s *server) track(nc net.Conn, t tracked) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t.ip = s.conns[nc].ip
	s.conns[nc] = t
}

// untrack forgets a connection.
func (s *server) untrack(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.conns[nc]
	if !ok {
		return
	}
	delete(s.conns, nc)
	if t.ip == "" {
		return
	}
	if s.perIP[t.ip]--; s.perIP[t.ip] <= 0 {
		delete(s.perIP, t.ip)
	}
}

// serveConn is the article's net.createServer callback and its
// socket.once("data") (3.4.3): read the request head, then either answer
// it as plain HTTP (page.go) or upgrade the connection (upgrade.go) and
// start the frame loop (runWS). It returns once the handshake is done, so
// the stack that parsing and logging grew goes with it: the connection's
// long life is spent in a fresh goroutine, as small as the frame loop needs.
func (s *server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	remote := nc.RemoteAddr().String()
	handedOn := false // a goroutine started here goes on with the connection, and untracks it at its end
	defer s.untrackUnless(nc, &handedOn)
	defer s.recoverConn(nc, remote)
	s.tune(nc, remote)
	tr := s.tracerFor(remote) // trace.go: nil without -trace
	nc.SetDeadline(time.Now().Add(s.cfg.handshakeTimeout))
	kr := newConnReader(nc)
	br := getReader(kr)
	req, err := readRequest(br, int(s.cfg.maxHeaderBytes)) // http.go
	if err == nil {
		remote, err = s.clientAddr(nc, req, remote, tr) // proxy.go: behind -trust-proxy, the address the proxy forwarded
	}
	if err != nil {
		putReader(br)
		s.refuse(nc, remote, req, err, tr)
		return
	}
	if !req.isWebSocket() { // the pages and section 2's clocks (page.go, push.go)
		handedOn = s.servePlainConn(nc, kr, br, req, tr, remote)
		return
	}
	tr = s.inspectTracer(req, tr, remote)             // inspect.go: the page asked to see this connection's bytes
	out := s.pushStats.open(nc, req)                  // pushstats.go: nc, counted for push.html on /clock/ws
	ext, err := handshake(out, req, s.rules(req), tr) // upgrade.go: article 3.3
	if err != nil {
		putReader(br)
		s.refuse(nc, remote, req, err, tr)
		s.endInspection(tr)
		return
	}
	nc.SetDeadline(time.Time{})
	ws := s.newWS(nc, out, kr, br, ext, tr)
	ws.clock = requestPath(req.target) == clockWSPath // clockws.go: it pushes the time and echoes nothing
	s.track(nc, tracked{ws: ws})
	s.log.Info("open", "remote", remote, "path", preview(req.target), "origin", preview(req.origin))
	handedOn = true
	s.wg.Add(1)
	go s.runWS(nc, ws, remote)
}

// untrackUnless, deferred by serveConn, forgets the connection unless a
// goroutine it started has it now (*handedOn), which forgets it at its end.
func (s *server) untrackUnless(nc net.Conn, handedOn *bool) {
	if !*handedOn {
		s.untrack(nc)
	}
}

// tune sets the socket options of sockopt_linux.go; a failure is logged,
// and the connection goes on with the defaults.
func (s *server) tune(nc net.Conn, remote string) {
	if err := tuneConn(nc); err != nil {
		s.log.Warn("socket options", "remote", remote, "err", err)
	}
}

// newWS starts the frame phase of an upgraded connection: frames are read
// through br, which read the handshake, and written to out (write.go),
// with the server's limits, its budget, and the extension agreed.
func (s *server) newWS(nc net.Conn, out io.Writer, kr *connReader, br *bufio.Reader, ext *deflateParams, tr *tracer) *wsConn {
	ws := newWSConn(br, out, int64(s.cfg.maxMessage))
	ws.trace = tr
	ws.kr = kr
	ws.out.nc, ws.out.timeout = nc, s.cfg.writeTimeout
	ws.budget = s.budget
	ws.deflate = newDeflater(ext)
	if cw, ok := out.(countedWriter); ok { // push.html counts what /clock/ws receives too
		ws.counter, kr.counter = cw.tc, cw.tc
	}
	kr.activate(ws, s.cfg.pingInterval, s.cfg.idleTimeout, s.cfg.messageTimeout)
	return ws
}

// endInspection ends the connection's part in the page's inspector, if it has one.
func (s *server) endInspection(tr *tracer) {
	if tr != nil && tr.insp != nil {
		s.inspector.detach(tr.insp)
	}
}

// refuse ends a connection whose request was refused or cut short: an
// *httpError is answered; anything else (the client left, the handshake
// timeout) has nobody to answer. Then the log line, and the TCP close.
func (s *server) refuse(nc net.Conn, remote string, req *request, err error, tr *tracer) {
	if he, ok := errors.AsType[*httpError](err); ok {
		resp := errorResponse(he)
		nc.Write(resp)
		tr.handshake(req, resp)
		s.warn.info("refused", "remote", remote, "status", he.status, "why", he.msg)
	} else if req != nil && len(req.head) == 0 && (err == io.EOF || errors.Is(err, os.ErrDeadlineExceeded)) {
		// A browser opens a connection ahead of need (a preconnect) and may close it unused.
		const why = "a connection that sent no request and closed (a browser's preconnect, most likely)"
		s.warn.info("unused connection", "remote", remote, "why", why)
		tr.note("%s", why)
	} else {
		s.warn.info("handshake abandoned", "remote", remote, "err", err)
	}
	closeTCP(nc)
}

// runWS is one WebSocket's life after its handshake: frames until the
// connection ends (conn.go), then endWS. Its frame is kept small (one
// deferred call, no logging here): every frame on the path from here to the
// wait for the next frame must fit the goroutine's first 2 KiB stack, so
// that a connection that has not yet written keeps the smallest stack; the
// first echo's write path doubles it, once (TestIdleConnectionMemory allows
// twice the smallest after an echo).
func (s *server) runWS(nc net.Conn, ws *wsConn, remote string) {
	defer s.endWS(nc, ws, remote, time.Now())
	s.goAwayLate(ws) // the shutdown may have begun during our handshake
	if ws.clock {
		ws.err = ws.serveClock(nc) // clockws.go
		return
	}
	ws.err = ws.serve() // conn.go
}

// endWS, deferred by runWS, ends a WebSocket: a panic in its code is
// logged with its stack and the client gets Close 1011, so that a bug costs
// one connection, not the server; then the log line, the buffers given
// back, and the TCP close.
func (s *server) endWS(nc net.Conn, ws *wsConn, remote string, start time.Time) {
	if p := recover(); p != nil {
		s.logPanic(remote, p)
		ws.writeClose(closeInternalServerErr, "internal error")
		ws.err = fmt.Errorf("panic: %v", p)
	}
	defer s.wg.Done()
	defer s.untrack(nc)
	s.logClosed(ws, ws.err, remote, start)
	if ws.br != nil {
		putReader(ws.br)
	}
	ws.releaseMsgBuf()
	ws.releaseHeld()
	ws.releaseDeflate()
	closeTCP(nc)
}

// logClosed writes the line that says how a WebSocket ended. It is a
// function of its own to keep its arguments off runWS's stack frame, which
// a connection keeps for its whole life.
func (s *server) logClosed(ws *wsConn, err error, remote string, start time.Time) {
	code, reason, by := ws.closeStatus(err)
	ws.trace.closed(code, reason, by)
	s.endInspection(ws.trace)
	s.log.Info("closed", "remote", remote, "code", uint16(code), "reason", reason, "by", by,
		"messages", ws.messages, "bytes", ws.bytes, "duration", time.Since(start).Round(time.Millisecond))
}

// recoverConn, deferred by serveConn, keeps a bug in the handshake from
// costing more than its connection: the panic is logged with its stack and
// the connection closes. The server goes on.
func (s *server) recoverConn(nc net.Conn, remote string) {
	if p := recover(); p != nil {
		s.logPanic(remote, p)
		nc.Close()
	}
}

// logPanic logs a recovered panic with the stack that raised it.
func (s *server) logPanic(remote string, p any) {
	s.log.Error("panic", "remote", remote, "panic", p, "stack", string(debug.Stack()))
}

// closeTCP ends the connection with the server closing TCP first (RFC 6455
// §7.1.1). Our FIN follows everything written; we then read until the
// client's FIN, for closeLinger and closeDrain bytes at most, because
// closing a socket that has unread bytes sends a reset, and a reset can
// destroy the Close frame or HTTP answer still on its way to the client.
// A client that keeps sending past that gets the reset.
func closeTCP(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.CloseWrite()
		tc.SetReadDeadline(time.Now().Add(closeLinger))
		io.CopyN(io.Discard, tc, closeDrain)
	}
	nc.Close()
}

// closeDrain is the most a closing connection reads and throws away.
const closeDrain = 1 << 20

// shutdown stops accepting, sends Close 1001 to every open WebSocket, waits
// until the shutdown timeout for the closing handshakes, then closes what
// is left, waiting shutdownGrace at most for it to end. The deadline is taken once, before the first Close goes out:
// it is every Close's write deadline (goAway) and the end of the wait, so
// that the time it takes to list thousands of connections and start their
// goAways does not add to it. They are listed under the lock and dealt
// with after it, so that a connection that ends meanwhile, which takes the
// lock to be untracked, does not wait for the whole list.
func (s *server) shutdown() {
	deadline := time.Now().Add(s.cfg.shutdownTimeout)
	s.mu.Lock()
	s.closing, s.stopBy = true, deadline
	if s.ln != nil {
		s.ln.Close()
	}
	open := maps.Clone(s.conns)
	s.mu.Unlock()
	for nc, t := range open {
		if t.ws == nil { // a request being read, or a kept-alive poll's wait, ends now; a push sees the shutdown and ends its response
			nc.SetReadDeadline(time.Now())
			continue
		}
		go t.ws.goAway(deadline) // a goroutine each: goAway waits for the connection's write lock
	}

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		s.mu.Lock()
		left := maps.Clone(s.conns)
		s.mu.Unlock()
		s.log.Warn("shutdown timeout: closing remaining connections", "count", len(left))
		for nc := range left {
			nc.Close()
		}
		select { // their goroutines end as their reads fail, each with its log line
		case <-done:
		case <-time.After(shutdownGrace):
			s.log.Warn("shutdown: connections still ending; exiting without them")
		}
	}
}

// shutdownGrace bounds the wait, once the shutdown timeout has passed and
// the remaining connections are closed, for their goroutines to end: with
// thousands left, logging each one's end takes longer than the exit would.
const shutdownGrace = 400 * time.Millisecond

// goAwayLate sends Close 1001 to a WebSocket whose handshake ended after
// the shutdown began, which the shutdown's list may have missed, with the
// shutdown's deadline. It is a function of its own to keep the deadline
// off runWS's stack frame.
func (s *server) goAwayLate(ws *wsConn) {
	s.mu.Lock()
	closing, deadline := s.closing, s.stopBy
	s.mu.Unlock()
	if closing {
		ws.goAway(deadline)
	}
}
