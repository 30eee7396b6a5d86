package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"wsecho/internal/wstest"
)

// deployment is deploy/nginx.conf for real: Debian's nginx on a loopback
// port, holding the TLS, in front of two copies of the server, each a
// process of its own started with -trust-proxy 127.0.0.1/32, as
// deploy/try.sh starts them.
type deployment struct {
	t      *testing.T
	dir    string // nginx's prefix: the configuration, the certificate, logs
	bin    string
	addr   string // nginx's 127.0.0.1:PORT
	copies [2]*serverCopy
	nginx  *exec.Cmd
}

// serverCopy is one copy of the server: its address and its log.
type serverCopy struct {
	addr string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{} // closed when the process has exited
}

// copyFlags are the flags every copy runs with: those of deploy/try.sh,
// with a per-address limit to count against and a short shutdown.
var copyFlags = []string{"-trust-proxy", "127.0.0.1/32", "-max-conns-per-ip", "8", "-shutdown-timeout", "2s"}

// startDeployment builds the server, makes a certificate, writes
// deploy/nginx.conf with free ports in place of its own, and starts the
// two copies and nginx. Without nginx the test is skipped, but under CI,
// where .ci/run installs it.
func startDeployment(t *testing.T) *deployment {
	t.Helper()
	needTool(t, "nginx", "-v")
	dir, err := os.MkdirTemp("", "wsecho-deploy-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // nginx's workers, nobody when the master is root, read the prefix
	d := &deployment{t: t, dir: dir, bin: filepath.Join(dir, "wsecho")}
	t.Cleanup(d.stop)
	if out, err := exec.Command("go", "build", "-o", d.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	writeCertificate(t, dir)
	conf, err := os.ReadFile("deploy/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	d.addr = "127.0.0.1:" + ports[0]
	text := string(conf)
	for _, r := range [][2]string{{"127.0.0.1:8443", d.addr}, {"127.0.0.1:9001", "127.0.0.1:" + ports[1]}, {"127.0.0.1:9002", "127.0.0.1:" + ports[2]}} {
		if !strings.Contains(text, r[0]) {
			t.Fatalf("deploy/nginx.conf no longer has %s, which this test replaces", r[0])
		}
		text = strings.ReplaceAll(text, r[0], r[1])
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	d.copies[0] = &serverCopy{addr: "127.0.0.1:" + ports[1]}
	d.copies[1] = &serverCopy{addr: "127.0.0.1:" + ports[2]}
	d.start(0)
	d.start(1)
	var nginxOut syncBuffer
	d.nginx = exec.Command("nginx", "-p", dir, "-c", "nginx.conf", "-e", "stderr")
	d.nginx.Stdout, d.nginx.Stderr = &nginxOut, &nginxOut
	if err := d.nginx.Start(); err != nil {
		t.Fatal(err)
	}
	awaitListening(t, d.addr, func() string { return "nginx: " + nginxOut.String() })
	return d
}

// start starts copy i on its address, and waits until it listens.
func (d *deployment) start(i int) {
	c := d.copies[i]
	c.log = &syncBuffer{}
	c.done = make(chan struct{})
	c.cmd = exec.Command(d.bin, append([]string{"-addr", c.addr}, copyFlags...)...)
	c.cmd.Stderr = c.log
	if err := c.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(c.cmd, c.done)
	awaitListening(d.t, c.addr, c.log.String)
}

// terminate sends copy i SIGTERM, as a rolling restart does, and waits for it to exit.
func (d *deployment) terminate(i int) {
	c := d.copies[i]
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		d.t.Fatalf("copy %d did not exit within 15 s of SIGTERM:\n%s", i, c.log.String())
	}
}

// stop ends nginx and the copies and removes the prefix.
func (d *deployment) stop() {
	if d.nginx != nil && d.nginx.Process != nil {
		d.nginx.Process.Signal(syscall.SIGQUIT)
		done := make(chan struct{})
		go func() { d.nginx.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			d.nginx.Process.Kill()
		}
	}
	for _, c := range d.copies {
		if c != nil && c.cmd != nil {
			c.cmd.Process.Kill()
			<-c.done
		}
	}
	os.RemoveAll(d.dir)
}

// logs is both copies' logs.
func (d *deployment) logs() string { return d.copies[0].log.String() + d.copies[1].log.String() }

// dial opens a WebSocket through nginx over TLS (wss://), from the
// loopback address from, so that nginx sees a client other than itself.
func (d *deployment) dial(from, path string, extra ...string) (*wstest.Conn, error) {
	return dialTLS(from, d.addr, path, extra...)
}

// dialTLS is dial to any address: TLS, then the opening handshake.
func dialTLS(from, addr, path string, extra ...string) (*wstest.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dialer := &tls.Dialer{NetDialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}},
		Config: &tls.Config{InsecureSkipVerify: true}} // the test's own certificate
	nc, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return wstest.Handshake(ctx, nc, wstest.Upgrade{Host: addr, Path: path, Extra: extra})
}

// echo sends msg as a text message on c and returns what comes back.
func echo(c *wstest.Conn, msg string) (string, error) {
	c.NC.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.NC.SetDeadline(time.Time{})
	if err := c.WriteFrame(wstest.Frame{Fin: true, Opcode: wstest.OpText, Payload: []byte(msg)}); err != nil {
		return "", err
	}
	f, err := c.ReadFrame()
	if err != nil {
		return "", err
	}
	if f.Opcode == wstest.OpClose {
		return "", closeCodeError(wstest.CloseCode(f.Payload))
	}
	return string(f.Payload), nil
}

// closeCodeError is a Close received where an echo was awaited.
type closeCodeError uint16

func (e closeCodeError) Error() string { return fmt.Sprintf("Close %d", uint16(e)) }

// httpsClient fetches through nginx, trusting the test's certificate.
var httpsClient = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

// TestDeployBehindNginx: deploy/nginx.conf in front of two copies: echo
// over wss://, the client's address forwarded only by a trusted proxy and
// counted per client, section 2's pushes on time through the proxy, the
// pages over https:// in Chromium, and a rolling restart with a count of
// messages sent and echoed.
func TestDeployBehindNginx(t *testing.T) {
	d := startDeployment(t)

	t.Run("wss echo and the client's address", func(t *testing.T) {
		c, err := d.dial("127.0.0.2", "/")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := echo(c, "hello over wss"); err != nil || got != "hello over wss" {
			t.Fatalf("echo: %q, %v", got, err)
		}
		c.Close(1000, "")
		// A client that writes its own X-Forwarded-For is not believed: nginx appends the address it
		// saw, and the server takes the rightmost one that is not a trusted proxy's.
		c, err = d.dial("127.0.0.3", "/", "X-Forwarded-For: 203.0.113.9\r\n")
		if err != nil {
			t.Fatal(err)
		}
		echo(c, "x")
		c.Close(1000, "")
		// Straight to a copy from an address that is not a trusted proxy's: the header is ignored.
		nc, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 4)}}).Dial("tcp", d.copies[0].addr)
		if err != nil {
			t.Fatal(err)
		}
		c, err = wstest.Handshake(context.Background(), nc, wstest.Upgrade{Host: d.copies[0].addr, Extra: []string{"X-Forwarded-For: 203.0.113.9\r\n"}})
		if err != nil {
			t.Fatal(err)
		}
		direct := c.NC.LocalAddr().String()
		echo(c, "x")
		c.Close(1000, "")
		awaitLog(t, d.logs, "msg=open remote=127.0.0.2 ", "msg=open remote=127.0.0.3 ", "msg=open remote="+direct+" ")
		if strings.Contains(d.logs(), "203.0.113.9 ") {
			t.Fatalf("a client's own X-Forwarded-For was believed:\n%s", d.logs())
		}
	})

	t.Run("the per-address limit counts clients, not the proxy", func(t *testing.T) {
		var open []*wstest.Conn
		defer func() {
			for _, c := range open {
				c.Close(1000, "")
			}
		}()
		// -max-conns-per-ip 8 on each copy: sixteen in all from one client (nginx tries the other
		// copy on a 503), then 503.
		for i := 0; ; i++ {
			c, err := d.dial("127.0.0.5", "/")
			if err != nil {
				if i != 16 || !strings.Contains(err.Error(), "503") {
					t.Fatalf("connection %d from one client: %v; want sixteen, then 503", i+1, err)
				}
				break
			}
			open = append(open, c)
		}
		c, err := d.dial("127.0.0.6", "/")
		if err != nil {
			t.Fatalf("another client, while the first holds its limit: %v", err)
		}
		open = append(open, c)
	})

	t.Run("section 2 on time through the proxy", func(t *testing.T) {
		resp, err := httpsClient.Get("https://" + d.addr + "/clock/events")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for n := 0; n < 3; {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
				lateness(t, "EventSource", data)
				n++
			}
		}
		resp, err = httpsClient.Get("https://" + d.addr + "/clock/long")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		lateness(t, "long poll", strings.TrimSpace(string(body)))
	})

	t.Run("the pages over https in Chromium", func(t *testing.T) { pagesOverHTTPS(t, d) })

	t.Run("rolling restart", func(t *testing.T) { rollingRestart(t, d) })
}

// lateness fails the test if the update stamped with the server's second
// stamp arrived 2 s or more after that second.
func lateness(t *testing.T, what, stamp string) {
	t.Helper()
	at, err := time.ParseInLocation("2006-01-02 15:04:05", stamp, time.Local)
	if err != nil {
		t.Fatalf("%s: %q is not the clock's time: %v", what, stamp, err)
	}
	if late := time.Since(at); late >= 2*time.Second {
		t.Fatalf("%s: the update of %s arrived %v after it", what, stamp, late)
	}
}

// pagesOverHTTPS: index.html echoes over wss:// to its own origin with the
// inspector's report of the frame, push.html's six panels tick on time,
// and the lab answers, all through nginx.
func pagesOverHTTPS(t *testing.T, d *deployment) {
	devtools := startChromium(t, "--ignore-certificate-errors") // the test's own certificate
	page := openPage(t, devtools)
	page.call("Page.navigate", map[string]any{"url": "https://" + d.addr + "/"})
	var echoed struct{ URL, Source, Log, Remote string }
	page.eval(`
		await until("the page to load", () => document.readyState === "complete" && $("connect"));
		const url = $("url").value;
		$("connect").click();
		await until("open", () => $("state").dataset.state === "open");
		$("text").value = "through nginx";
		$("send-text").click();
		await until("the echo and the server's report of its frame", () => entries("recv").length === 1 && $("frame-check").dataset.ok);
		return {url, source: $("frame-source").textContent, log: $("log").textContent, remote: $("hs-remote").textContent};`, &echoed)
	// The inspector names the client nginx forwarded: an address without the port of a connection.
	if echoed.URL != "wss://"+d.addr+"/" || !strings.Contains(echoed.Log, "through nginx") || strings.HasPrefix(echoed.Source, "Illustrative") ||
		echoed.Remote != "The server sees this connection come from 127.0.0.1." {
		t.Fatalf("index.html over https: %+v", echoed)
	}

	push := openPage(t, devtools)
	push.call("Page.navigate", map[string]any{"url": "https://" + d.addr + "/push.html"})
	var panels map[string]struct {
		Updates int
		Latency string
	}
	push.eval(`
		await until("the page to load", () => document.readyState === "complete" && $("start"));
		$("start").click();
		const ids = ["poll", "keep", "long", "iframe", "events", "ws"];
		const n = (id) => Number($(id).dataset.updates);
		await until("every clock to tick", () => ids.every((id) => n(id) >= (id === "long" ? 1 : 3)));
		const out = {};
		for (const id of ids) out[id] = {updates: n(id), latency: $(id).querySelector(".latency").textContent};
		$("stop").click();
		return out;`, &panels)
	for id, p := range panels {
		ms, err := strconv.Atoi(strings.TrimSuffix(p.Latency, " ms"))
		if err != nil || ms >= 2000 {
			t.Errorf("push.html's %s through nginx: %d updates, latency %q; want under 2000 ms", id, p.Updates, p.Latency)
		}
	}
	t.Logf("push.html through nginx: %v", panels)

	lab := openPage(t, devtools)
	lab.call("Page.navigate", map[string]any{"url": "https://" + d.addr + "/lab.html?frames=818537fa213d7f9f4d5158"})
	var verdict string
	lab.eval(`await until("the run", () => $("verdict") && $("verdict").dataset.kind); return $("verdict").textContent;`, &verdict)
	if !strings.Contains(verdict, "1 frame(s) sent back") {
		t.Fatalf("lab.html over https: %q", verdict)
	}
	for _, p := range []*cdp{page, push, lab} {
		p.mu.Lock()
		errs := p.errors
		p.mu.Unlock()
		if len(errs) > 0 {
			t.Fatalf("console errors:\n%s", strings.Join(errs, "\n"))
		}
	}
}

// rollingRestart: clients echo numbered messages through nginx while each
// copy in turn gets SIGTERM and is started again. Every client of a copy
// that stops gets Close 1001 and connects again, to the other copy; every
// echo that comes back is the message sent; the only messages without an
// echo are those in flight when their client's 1001 came. index.html,
// open meanwhile, reconnects by itself.
func rollingRestart(t *testing.T, d *deployment) {
	devtools := startChromium(t, "--ignore-certificate-errors")
	page := openPage(t, devtools)
	page.call("Page.navigate", map[string]any{"url": "https://" + d.addr + "/"})
	page.eval(`
		await until("the page to load", () => document.readyState === "complete" && $("connect"));
		$("connect").click();
		await until("open", () => $("state").dataset.state === "open");`, nil)

	const clients = 8
	var sent, echoed, closes1001, unanswered atomic.Int64
	var wrong []string
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := fmt.Sprintf("127.0.0.%d", 20+i)
			for n := 0; ; {
				c, err := d.dial(from, "/")
				if err != nil {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond): // nginx retries the other copy; this is in case both are down
						continue
					}
				}
				for {
					select {
					case <-stop:
						c.Close(1000, "")
						return
					default:
					}
					msg := fmt.Sprintf("client %d message %d", i, n)
					sent.Add(1)
					got, err := echo(c, msg)
					if err == nil && got == msg {
						echoed.Add(1)
						n++
						continue
					}
					if code, ok := err.(closeCodeError); ok && code == 1001 {
						closes1001.Add(1)
					} else {
						mu.Lock()
						wrong = append(wrong, fmt.Sprintf("sent %q: echoed %q, %v", msg, got, err))
						mu.Unlock()
					}
					if err == nil { // an echo, but not of msg
						echoed.Add(1)
						n++
						continue
					}
					unanswered.Add(1)
					c.NC.Close()
					break
				}
			}
		}()
	}
	pause := func() { time.Sleep(500 * time.Millisecond) } // echoes go on meanwhile; the counts below are what matters
	pause()
	for i := range d.copies {
		before := closes1001.Load()
		d.terminate(i)
		if !strings.Contains(d.copies[i].log.String(), "shutting down") {
			t.Fatalf("copy %d did not shut down:\n%s", i, d.copies[i].log.String())
		}
		d.start(i)
		pause()
		t.Logf("copy %d restarted: %d clients got 1001", i, closes1001.Load()-before)
	}
	close(stop)
	wg.Wait()
	t.Logf("rolling restart: %d messages sent, %d echoed, %d clients closed with 1001, %d unanswered",
		sent.Load(), echoed.Load(), closes1001.Load(), unanswered.Load())
	if len(wrong) > 0 {
		t.Fatalf("%d echoes lost or wrong: %s", len(wrong), strings.Join(wrong[:min(len(wrong), 5)], "; "))
	}
	if closes1001.Load() < clients || unanswered.Load() != closes1001.Load() || sent.Load() != echoed.Load()+unanswered.Load() {
		t.Fatalf("sent %d, echoed %d, unanswered %d, 1001s %d: want every client of a stopped copy closed with 1001 (at least %d in all), and no message lost but one in flight per 1001",
			sent.Load(), echoed.Load(), unanswered.Load(), closes1001.Load(), clients)
	}

	var after struct {
		Closes []string
		State  string
		Log    string
	}
	page.eval(`
		await until("the page to reconnect", () => $("state").dataset.state === "open" && entries("close").length >= 1);
		$("text").value = "after the restart";
		$("send-text").click();
		await until("the echo", () => $("log").textContent.includes("after the restart") && entries("recv").length >= 1);
		return {closes: entries("close").map((e) => e.dataset.code), state: $("state").dataset.state, log: $("log").textContent};`, &after)
	if after.State != "open" || !strings.Contains(strings.Join(after.Closes, " "), "1001") {
		t.Fatalf("index.html through the restart: closes %v, state %s", after.Closes, after.State)
	}
}

// writeCertificate writes a self-signed certificate for 127.0.0.1 and
// localhost, and its key, as cert.pem and key.pem in dir, as try.sh's
// openssl does.
func writeCertificate(t *testing.T, dir string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}

// freePorts returns n loopback ports free at the time of asking.
func freePorts(t *testing.T, n int) []string {
	var ports []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// awaitListening waits until addr accepts connections, for 15 s at most;
// why says what went wrong, if it does not.
func awaitListening(t *testing.T, addr string, why func() string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			nc.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening after 15 s: %v\n%s", addr, err, why())
		}
	}
}

// awaitLog waits until the log holds every one of want, for 10 s at most.
func awaitLog(t *testing.T, log func() string, want ...string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		missing := ""
		for _, w := range want {
			if !strings.Contains(log(), w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log has no %q:\n%s", missing, log())
		}
	}
}
