// Command wsecho is a WebSocket echo server written directly on raw TCP: the
// Go twin of the Node.js net-module server of the article's section 3.4.3.
// upgrade.go does the opening handshake (article 3.3), frame.go the frames
// (article 3.4); this file accepts connections and runs one goroutine each.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults of the flags.
const (
	defaultAddr             = "127.0.0.1:9999" // the article's port
	defaultMaxMessage       = 64 << 20         // the conformance suite sends up to 16 MiB
	defaultMaxHeaderBytes   = 8 << 10
	defaultHandshakeTimeout = 10 * time.Second
	defaultShutdownTimeout  = 5 * time.Second
	defaultPingInterval     = 30 * time.Second
	defaultIdleTimeout      = 60 * time.Second
	defaultWriteTimeout     = 10 * time.Second
)

// readBufferSize is the per-connection bufio.Reader: a whole upgrade request
// or a small frame fits in one read.
const readBufferSize = 4 << 10

// closeLinger bounds how long a closing connection waits for the client's
// FIN after ours (see closeTCP).
const closeLinger = 2 * time.Second

// config is what the flags set.
type config struct {
	addr             string
	maxMessage       byteSize
	maxHeaderBytes   byteSize
	handshakeTimeout time.Duration
	shutdownTimeout  time.Duration
	pingInterval     time.Duration
	idleTimeout      time.Duration
	writeTimeout     time.Duration
	maxConns         int
	origins          string
	trace            bool
}

// parseFlags reads the command line into a config.
func parseFlags(args []string, output io.Writer) (config, error) {
	cfg := config{
		addr:             defaultAddr,
		maxMessage:       defaultMaxMessage,
		maxHeaderBytes:   defaultMaxHeaderBytes,
		handshakeTimeout: defaultHandshakeTimeout,
		shutdownTimeout:  defaultShutdownTimeout,
		pingInterval:     defaultPingInterval,
		idleTimeout:      defaultIdleTimeout,
		writeTimeout:     defaultWriteTimeout,
	}
	fs := flag.NewFlagSet("wsecho", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprintf(output, "wsecho: a WebSocket echo server on raw TCP (RFC 6455).\n\nUsage: go run . [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.addr, "addr", cfg.addr, "`host:port` to listen on (\":9999\" for every interface)")
	fs.Var(&cfg.maxMessage, "max-message", "largest message accepted, a `size` in bytes (suffixes KiB, MiB, GiB); a larger one is closed with 1009")
	fs.Var(&cfg.maxHeaderBytes, "max-header-bytes", "largest upgrade request head, a `size` in bytes; a larger one gets 431")
	fs.DurationVar(&cfg.handshakeTimeout, "handshake-timeout", cfg.handshakeTimeout, "time a client has to send its whole upgrade request")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", cfg.shutdownTimeout, "on SIGINT/SIGTERM, time clients have to answer the server's Close 1001")
	fs.DurationVar(&cfg.pingInterval, "ping-interval", cfg.pingInterval, "ping a client quiet this long; 0: never ping")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", cfg.idleTimeout, "close (1001) a client that sent nothing, not even a pong, this long; 0: never")
	fs.DurationVar(&cfg.writeTimeout, "write-timeout", cfg.writeTimeout, "drop a client that does not read: a write (of up to 1 MiB) that waits this long; 0: never")
	fs.IntVar(&cfg.maxConns, "max-conns", 0, "most connections at once; past it a handshake gets 503 with Retry-After (0: the open-file limit less 64)")
	fs.StringVar(&cfg.origins, "origin", "", "comma-separated `origins` allowed to connect, e.g. \"http://localhost:8000,null\"; others get 403 (empty: any)")
	fs.BoolVar(&cfg.trace, "trace", false, "print every handshake and frame to stderr, laid out as in the article")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case cfg.maxMessage < 1:
		return cfg, errors.New("-max-message must be at least 1 byte")
	case cfg.maxHeaderBytes < 64:
		return cfg, errors.New("-max-header-bytes must be at least 64")
	case cfg.handshakeTimeout <= 0:
		return cfg, errors.New("-handshake-timeout must be positive")
	case cfg.shutdownTimeout < 0 || cfg.pingInterval < 0 || cfg.idleTimeout < 0 || cfg.writeTimeout < 0 || cfg.maxConns < 0:
		return cfg, errors.New("timeouts and -max-conns cannot be negative")
	}
	if cfg.maxConns == 0 {
		cfg.maxConns = max(1, openFileLimit()-64)
	}
	return cfg, nil
}

// originList splits -origin into its entries.
func (cfg config) originList() []string {
	var list []string
	for o := range strings.SplitSeq(cfg.origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			list = append(list, o)
		}
	}
	return list
}

// byteSize is a flag value in bytes that reads and prints binary suffixes: 64MiB.
type byteSize int64

// String prints the size with the largest suffix that divides it.
func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// Set reads "1048576", "1024KiB", "1MiB" or "1M".
func (b *byteSize) Set(s string) error {
	num, shift := s, uint(0)
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"G", 30}, {"M", 20}, {"K", 10}, {"B", 0}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = rest, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return fmt.Errorf("not a size: %q", s)
	}
	*b = byteSize(n << shift)
	return nil
}

// server accepts connections and keeps track of them for the shutdown.
type server struct {
	cfg      config
	log      *slog.Logger
	traceOut io.Writer // where -trace writes (stderr)
	origins  []string  // -origin, split

	mu      sync.Mutex
	ln      net.Listener         // set by serve, closed by shutdown
	conns   map[net.Conn]*wsConn // nil while the connection is still in its handshake
	closing bool                 // shutdown has begun
	wg      sync.WaitGroup       // one per connection goroutine
}

// newServer makes a server with the given settings, logging to log.
func newServer(cfg config, log *slog.Logger) *server {
	return &server{cfg: cfg, log: log, conns: make(map[net.Conn]*wsConn), traceOut: &lockedWriter{w: os.Stderr},
		origins: cfg.originList()}
}

// listen opens the listening TCP socket with the options of sockopt_linux.go.
func listen(addr string, handshakeTimeout time.Duration) (net.Listener, error) {
	lc := net.ListenConfig{
		Control:   listenControl(handshakeTimeout),
		KeepAlive: -1, // tuneConn sets keepalive itself
	}
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
				s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		open, ok := s.track(nc, nil)
		if !ok || open > s.cfg.maxConns+maxRefusing {
			s.untrack(nc)
			nc.Close() // shutting down, or flooded: not even a 503
			continue
		}
		s.wg.Add(1)
		go s.serveConn(nc, open > s.cfg.maxConns)
	}
}

// maxRefusing is how many connections past -max-conns get their 503; more
// are closed at once, so that a flood costs no goroutines.
const maxRefusing = 256

// isClosing says whether shutdown has begun.
func (s *server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// track records a connection (ws is nil during its handshake) and returns
// how many are open; ok is false once the shutdown has begun.
func (s *server) track(nc net.Conn, ws *wsConn) (open int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing && ws == nil {
		return len(s.conns), false
	}
	s.conns[nc] = ws
	return len(s.conns), true
}

// untrack forgets a connection.
func (s *server) untrack(nc net.Conn) {
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
}

// serveConn runs one connection's handshake (upgrade.go), and on success
// starts runWS for its frames. It returns at once after the handshake, so
// the stack that parsing and logging grew goes with it: the connection's
// long life is spent in a fresh goroutine, as small as the frame loop needs.
func (s *server) serveConn(nc net.Conn, full bool) {
	defer s.wg.Done()
	remote := nc.RemoteAddr().String()
	upgraded := false
	defer func() {
		if !upgraded {
			s.untrack(nc)
		}
	}()
	defer s.recoverConn(nc, remote)
	if err := tuneConn(nc); err != nil {
		s.log.Warn("socket options", "remote", remote, "err", err)
	}

	var tr *tracer
	if s.cfg.trace {
		tr = newTracer(s.traceOut, remote)
	}
	nc.SetDeadline(time.Now().Add(s.cfg.handshakeTimeout))
	kr := newConnReader(nc)
	br := getReader(kr)
	rules := handshakeRules{maxHeaderBytes: int(s.cfg.maxHeaderBytes), origins: s.origins, full: full}
	req, err := handshake(br, nc, rules, tr)
	if err != nil {
		putReader(br)
		if he, ok := errors.AsType[*httpError](err); ok {
			s.log.Info("refused", "remote", remote, "status", he.status, "why", he.msg)
		} else if err == errPlainHTTP {
			start := time.Now()
			status, err := s.servePlain(nc, req, full, tr)
			s.log.Info("http", "remote", remote, "method", req.method, "path", req.target, "status", status,
				"end", errText(err), "duration", time.Since(start).Round(time.Millisecond))
		} else {
			s.log.Info("handshake abandoned", "remote", remote, "err", err)
		}
		closeTCP(nc)
		return
	}
	nc.SetDeadline(time.Time{})

	ws := newWSConn(br, nc, int64(s.cfg.maxMessage))
	ws.trace = tr
	ws.nc, ws.kr = nc, kr
	ws.timeouts = connTimeouts{ping: s.cfg.pingInterval, idle: s.cfg.idleTimeout, write: s.cfg.writeTimeout}
	kr.activate(ws)
	s.track(nc, ws)
	s.log.Info("open", "remote", remote, "path", req.target, "origin", req.origin)
	upgraded = true
	s.wg.Add(1)
	go s.runWS(nc, ws, remote)
}

// runWS is one WebSocket's life after its handshake: frames until the
// connection ends (frame.go), then endWS. Its frame is kept small (one
// deferred call, no logging here): every frame on the path from here to a
// write system call must fit the goroutine's first 2 KiB stack, or the
// stack doubles for the connection's whole life (TestIdleConnectionStack).
func (s *server) runWS(nc net.Conn, ws *wsConn, remote string) {
	defer s.endWS(nc, ws, remote, time.Now())
	if s.isClosing() { // the shutdown began during our handshake: it may have missed us
		ws.goAway(time.Now().Add(s.cfg.shutdownTimeout))
	}
	ws.err = ws.serve()
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
	closeTCP(nc)
}

// logClosed writes the line that says how a WebSocket ended. It is a
// function of its own to keep its arguments off runWS's stack frame, which
// a connection keeps for its whole life.
func (s *server) logClosed(ws *wsConn, err error, remote string, start time.Time) {
	code, reason, by := ws.closeStatus(err)
	s.log.Info("closed", "remote", remote, "code", code, "reason", reason, "by", by,
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

// errText is err's text, or "complete" for none.
func errText(err error) string {
	if err == nil {
		return "complete"
	}
	return err.Error()
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
// up to the shutdown timeout for the closing handshakes, then closes what
// is left.
func (s *server) shutdown() {
	timeout := s.cfg.shutdownTimeout
	s.mu.Lock()
	s.closing = true
	if s.ln != nil {
		s.ln.Close()
	}
	for nc, ws := range s.conns {
		if ws == nil { // still in its handshake: end it now
			nc.SetReadDeadline(time.Now())
			continue
		}
		go ws.goAway(time.Now().Add(timeout))
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		s.mu.Lock()
		s.log.Warn("shutdown timeout: closing remaining connections", "count", len(s.conns))
		for nc := range s.conns {
			nc.Close()
		}
		s.mu.Unlock()
		<-done
	}
}

// listenURL is the ws:// address clients should use for the listener.
func listenURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "ws://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "ws://" + net.JoinHostPort(host, port) + "/"
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsecho:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ln, err := listen(cfg.addr, cfg.handshakeTimeout)
	if err != nil {
		args := []any{"addr", cfg.addr, "err", err}
		if errors.Is(err, syscall.EADDRINUSE) {
			args = append(args, "hint", "another program (another wsecho?) has this port: stop it, or choose another port with -addr 127.0.0.1:9998")
		}
		log.Error("cannot listen", args...)
		os.Exit(1)
	}
	url := listenURL(ln.Addr())
	page := "http" + strings.TrimPrefix(url, "ws")
	log.Info("WebSocket echo server listening on " + url + "  (try: websocat " + url + ", or open " + page + " in a browser)")

	srv := newServer(cfg, log)
	if cfg.trace {
		srv.traceOut.Write([]byte(sockoptSummary(cfg.handshakeTimeout)))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.serve(ln) }()

	select {
	case err := <-served:
		log.Error("accept loop ended", "err", err)
		os.Exit(1)
	case <-ctx.Done():
		stop() // a second Ctrl-C kills at once
		log.Info("shutting down", "timeout", cfg.shutdownTimeout)
		srv.shutdown()
		log.Info("bye")
	}
}
