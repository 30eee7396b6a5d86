// Command wsecho is a WebSocket echo server written directly on raw TCP: the
// Go twin of the Node.js net-module server of the article's section 3.4.3.
// Read it in the article's order: upgrade.go (3.3), frame.go (3.4.1, 3.4.2),
// conn.go (3.4.3), close.go (the closing handshake). server.go accepts the
// connections; this file reads the flags and starts it.
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
	"strconv"
	"strings"
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
	defaultMessageTimeout   = 60 * time.Second
	defaultMaxBuffered      = 256 << 20 // well inside a small machine, and four of the largest messages
)

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
	messageTimeout   time.Duration
	maxBuffered      byteSize
	maxConns         int
	maxConnsPerIP    int
	origins          string
	trace            bool       // -trace, in any form but false
	traceOnly        traceScope // -trace=ws or -trace=http: which connections (trace.go)
	deflate          bool
	inspect          bool
	lab              bool
	trustProxy       proxyList // -trust-proxy: addresses whose X-Forwarded-For and Forwarded are believed (proxy.go)
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
		messageTimeout:   defaultMessageTimeout,
		maxBuffered:      defaultMaxBuffered,
		inspect:          true,
		lab:              true,
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
	fs.DurationVar(&cfg.messageTimeout, "message-timeout", cfg.messageTimeout, "close (1008) a client whose message, or control frame, is not complete this long after its first byte, pings or not; 0: never")
	fs.Var(&cfg.maxBuffered, "max-buffered", "most bytes held in messages being received, all connections together, a `size`, paid for as they arrive; when it runs low the largest holders are closed with 1013 first (0: no limit)")
	fs.IntVar(&cfg.maxConnsPerIP, "max-conns-per-ip", 0, "most connections from one IP address; past it a connection gets 503 (0: no limit)")
	fs.IntVar(&cfg.maxConns, "max-conns", 0, "most connections at once, every accepted one counted; past it a connection is answered 503 with Retry-After and closed at once (0: the open-file limit less 64)")
	fs.StringVar(&cfg.origins, "origin", "", "comma-separated `origins` allowed to connect, e.g. \"http://localhost:8000,null\"; others get 403 (empty: any)")
	fs.BoolVar(&cfg.inspect, "inspect", cfg.inspect, "let a page see its own connection's bytes: GET /inspect?token=T streams what the WebSocket opened with ?inspect=T sent and received (false: /inspect is 404)")
	fs.Var(&cfg.trustProxy, "trust-proxy", "comma-separated `addresses` or networks of reverse proxies, e.g. 127.0.0.1/32: from them the client's address is taken from X-Forwarded-For or Forwarded, for the log and -max-conns-per-ip (empty: trust none, ignore those headers)")
	fs.BoolVar(&cfg.lab, "lab", cfg.lab, "the frame lab: GET /lab?frames=HEX or POST /lab runs a client's bytes through the connection's own code and answers what it did, in JSON; lab.html is its page (false: both are 404)")
	fs.BoolVar(&cfg.deflate, "deflate", false, "accept permessage-deflate (RFC 7692) when a client offers it: compressed messages, beyond the article (off: every offer is declined)")
	fs.Var(traceFlag{&cfg.trace, &cfg.traceOnly}, "trace", "print every handshake and frame to stderr, laid out as in the article; -trace=ws: only WebSocket connections, not plain HTTP (push.html's clocks); -trace=http: only plain HTTP")
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
	case cfg.shutdownTimeout < 0 || cfg.pingInterval < 0 || cfg.idleTimeout < 0 || cfg.writeTimeout < 0 ||
		cfg.messageTimeout < 0 || cfg.maxConns < 0 || cfg.maxConnsPerIP < 0:
		return cfg, errors.New("timeouts and connection limits cannot be negative")
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
	// No soft memory limit is set: memory the server holds on purpose
	// (message buffers up to -max-buffered, idle connections, windows,
	// compressors) can legitimately pass any limit tied to -max-buffered,
	// and a live heap above the soft limit makes the collector run back to
	// back. The budget bounds what is held; the collector's default pacing
	// (GOGC) reclaims the rest. GOMEMLIMIT still sets one, if a user wants it.

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
