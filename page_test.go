package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServePage: plain HTTP on the server's port gets the page, 404 or 405,
// over a real socket, and the server closes the connection after it.
func TestServePage(t *testing.T) {
	addr, _ := startServer(t, nil)
	tests := []struct {
		method, target string
		status         int
		header         string
	}{
		{"GET", "/", 200, "Content-Type: text/html; charset=utf-8"},
		{"GET", "/index.html", 200, "Cache-Control: no-cache"},
		{"GET", "/?lang=zh", 200, ""},
		{"GET", "http://" + addr + "/", 200, ""},
		{"HEAD", "/", 200, "Content-Type: text/html; charset=utf-8"},
		{"GET", "/push.html", 200, "Content-Type: text/html; charset=utf-8"},
		{"HEAD", "/clock", 200, "Access-Control-Allow-Origin: *"},
		{"POST", "/clock/events", 405, "Allow: GET, HEAD"},
		{"GET", "/app.js", 404, ""},
		{"GET", "/index.html/", 404, ""},
		{"POST", "/", 405, "Allow: GET, HEAD"},
		{"DELETE", "/index.html", 405, "Allow: GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(nc, tt.method+" "+tt.target+" HTTP/1.1\r\nHost: "+addr+"\r\nUser-Agent: test\r\n\r\n")
			br := bufio.NewReader(nc)
			resp, err := http.ReadResponse(br, &http.Request{Method: tt.method})
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, tt.status)
			}
			if tt.header != "" {
				name, value, _ := strings.Cut(tt.header, ": ")
				if got := resp.Header.Get(name); got != value {
					t.Fatalf("%s: %q, want %q", name, got, value)
				}
			}
			if tt.status == 200 && !strings.HasPrefix(tt.target, "/clock") {
				want := indexHTML
				if tt.target == "/push.html" {
					want = pushHTML
				}
				if resp.ContentLength != int64(len(want)) {
					t.Fatalf("Content-Length %d, page is %d bytes", resp.ContentLength, len(want))
				}
				if tt.method == "HEAD" {
					want = nil
				}
				if !bytes.Equal(body, want) {
					t.Fatalf("body of %d bytes, want %d", len(body), len(want))
				}
			}
			c := &testClient{t: t, nc: nc, br: br}
			c.expectEOF() // nothing after the response: the connection closes
		})
	}
}

// TestPageIsSelfContained: no external asset, so it works from file:// offline.
func TestPageIsSelfContained(t *testing.T) {
	for _, page := range []string{string(indexHTML), string(pushHTML)} {
		for _, bad := range []string{"<script src", "<link rel=\"stylesheet", "src=\"http", "href=\"http", "url(", "@import"} {
			if strings.Contains(page, bad) {
				t.Errorf("a page contains %q: each must stand alone", bad)
			}
		}
	}
	if !strings.Contains(string(indexHTML), `ws://127.0.0.1:9999/`) || !strings.Contains(string(pushHTML), `http://127.0.0.1:9999`) {
		t.Error("a page lost its default server address")
	}
}
