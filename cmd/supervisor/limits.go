package main

import (
	"net"
	"sync"
	"time"
)

// Limits of the daemon's HTTP server against clients that hold resources:
// a request body must arrive within bodyTimeout, and at most maxConns
// connections are served at once (the next waits for one to close).
var (
	bodyTimeout = 30 * time.Second
	maxConns    = 512
)

// limitListener accepts at most n connections at a time.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func newLimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

// limitConn gives its slot back when closed, once.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
