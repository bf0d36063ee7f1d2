// An echo server on quic-go, following the rules of
// ossl-guide-quic-server-non-block(7): ALPN http/1.0 or hq-interop only;
// each bidirectional stream read until FIN, at most --max-input bytes; the
// bytes echoed back with FIN.
//
// It is a peer for comparison, written the way a user of quic-go writes a
// server (the package's example/echo is the model), and shares no code with
// the reference server. Its flags are the reference server's where quic-go
// has the same knob. It prints "listening on ADDR" once bound.
//
// The guide's server shuts its connection down after the echo; this one
// cannot. quic-go cannot tell an application when its stream data is
// acknowledged (quic-go issue #3291), and closing the connection drops the
// echo not yet sent (quic-go issue #3592: an echo written and closed just
// before CloseWithError never leaves). So, as quic-go users do, it leaves
// the close to the client, or to the idle timeout.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lucas-clemente/quic-go"
)

// Application error codes, as the reference server's.
const (
	errTooLarge  = 0x10 // the stream sent more than --max-input bytes
	errUniStream = 0x11 // a unidirectional stream: nothing to echo it on
	errRefused   = 0x12 // --max-connections reached
)

type options struct {
	listen         string
	cert, key      string
	alpn           string
	maxInput       int
	keepAlive      bool
	idleTimeout    time.Duration
	maxConnections int64
	noRetry        bool
	tokenLifetime  time.Duration
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.listen, "listen", "127.0.0.1:4443", "address to listen on (port 0 picks a free one)")
	flag.StringVar(&o.cert, "cert", "certs/chain.pem", "certificate chain (PEM), leaf first")
	flag.StringVar(&o.key, "key", "certs/key.pem", "private key (PEM) of the leaf")
	flag.StringVar(&o.alpn, "alpn", "http/1.0,hq-interop", "ALPN protocols accepted, comma separated")
	flag.IntVar(&o.maxInput, "max-input", 8192, "most bytes read from one stream; more is refused with 0x10")
	flag.BoolVar(&o.keepAlive, "keep-alive", false, "keep a connection open after an echo (serve further streams)")
	flag.DurationVar(&o.idleTimeout, "idle-timeout", 5*time.Second, "idle timeout")
	flag.Int64Var(&o.maxConnections, "max-connections", 10000, "most connections at once; beyond it clients are closed with 0x12")
	flag.BoolVar(&o.noRetry, "no-retry", false, "do not validate client addresses with a Retry")
	flag.DurationVar(&o.tokenLifetime, "token-lifetime", 10*time.Second, "how long a Retry token stays valid")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "quic-go-echo: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	return o
}

func main() {
	o := parseFlags()
	cert, err := tls.LoadX509KeyPair(o.cert, o.key)
	if err != nil {
		log.Fatalf("%s and %s: %v", o.cert, o.key, err)
	}
	tlsConf := &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   strings.Split(o.alpn, ","),
	}
	conf := &quic.Config{
		MaxIdleTimeout:           o.idleTimeout,
		RequireAddressValidation: func(net.Addr) bool { return !o.noRetry },
		MaxRetryTokenAge:         o.tokenLifetime,
		MaxIncomingUniStreams:    16,
	}
	ln, err := quic.ListenAddr(o.listen, tlsConf, conf)
	if err != nil {
		log.Fatalf("cannot listen on %s: %v", o.listen, err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		ln.Close()
	}()
	var open int64
	for {
		conn, err := ln.Accept(context.Background())
		if err != nil {
			return // closed by a signal
		}
		if atomic.AddInt64(&open, 1) > o.maxConnections {
			atomic.AddInt64(&open, -1)
			conn.CloseWithError(errRefused, "too many connections")
			continue
		}
		go func() {
			serve(conn, &o)
			atomic.AddInt64(&open, -1)
		}()
	}
}

// serve echoes the connection's streams: its first one, or every one with
// --keep-alive; then waits for the client to close the connection.
func serve(conn quic.Connection, o *options) {
	go refuseUni(conn)
	for {
		stream, err := conn.AcceptStream(context.Background())
		if err != nil {
			return // the connection ended
		}
		if o.keepAlive {
			go echo(conn, stream, o.maxInput)
			continue
		}
		echo(conn, stream, o.maxInput)
		<-conn.Context().Done()
		return
	}
}

func refuseUni(conn quic.Connection) {
	for {
		s, err := conn.AcceptUniStream(context.Background())
		if err != nil {
			return
		}
		s.CancelRead(errUniStream)
	}
}

// echo reads the stream to FIN, at most max bytes, and writes them back
// with FIN; true once it is written. More than max closes the connection
// with errTooLarge.
func echo(conn quic.Connection, s quic.Stream, max int) bool {
	buf, err := io.ReadAll(io.LimitReader(s, int64(max)+1))
	if err != nil {
		var se *quic.StreamError
		if errors.As(err, &se) {
			s.CancelWrite(quic.StreamErrorCode(se.ErrorCode))
		}
		return false
	}
	if len(buf) > max {
		s.CancelRead(errTooLarge)
		s.CancelWrite(errTooLarge)
		conn.CloseWithError(errTooLarge, fmt.Sprintf("input exceeds %d bytes", max))
		return false
	}
	if _, err := s.Write(buf); err != nil {
		return false
	}
	return s.Close() == nil
}
