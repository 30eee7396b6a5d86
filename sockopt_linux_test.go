package main

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// TestSocketOptions: the accepted sockets carry the options of sockopt_linux.go.
func TestSocketOptions(t *testing.T) {
	ln, err := listen("127.0.0.1:0", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	checked := make(chan struct{})
	defer close(checked)
	go func() {
		nc, _ := net.Dial("tcp", ln.Addr().String())
		if nc != nil {
			nc.Write([]byte("G")) // TCP_DEFER_ACCEPT waits for data
			<-checked             // the client stays until the options are read
			nc.Close()
		}
	}()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := tuneConn(nc); err != nil {
		t.Fatal(err)
	}
	rc, _ := nc.(*net.TCPConn).SyscallConn()
	get := func(level, opt int) (v int) {
		rc.Control(func(fd uintptr) { v, _ = syscall.GetsockoptInt(int(fd), level, opt) })
		return v
	}
	const tcpUserTimeout, tcpKeepIdle = 0x12, 0x4
	if get(syscall.IPPROTO_TCP, syscall.TCP_NODELAY) != 1 || get(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) != 1 ||
		get(syscall.IPPROTO_TCP, tcpKeepIdle) != int(keepIdle/time.Second) ||
		get(syscall.IPPROTO_TCP, tcpUserTimeout) != int(userTimeout/time.Millisecond) {
		t.Fatal("socket options not set")
	}
}
