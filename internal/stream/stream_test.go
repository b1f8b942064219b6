package stream

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// pipe is an in-memory connection: what one side writes the other reads.
type pipe struct {
	io.Reader
	io.Writer
}

func (pipe) Close() error { return nil }

func TestFramesRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	c := New(pipe{&buf, &buf}, nil)
	big := bytes.Repeat([]byte("x"), MaxPayload+10)
	if err := c.WriteFrame(Stdout, big); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteJSON(Exit, ExitStatus{Code: 3}); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for {
		k, p, err := c.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if k == Exit {
			if string(p) != `{"code":3}` {
				t.Fatalf("exit payload %q", p)
			}
			break
		}
		if k != Stdout {
			t.Fatalf("kind %s, want stdout", k)
		}
		got = append(got, p...)
	}
	if !bytes.Equal(got, big) {
		t.Fatalf("got %d bytes back, want %d", len(got), len(big))
	}
	if _, _, err := c.ReadFrame(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}

func TestMalformedFrames(t *testing.T) {
	for name, raw := range map[string][]byte{
		"unknown kind":  {9, 0, 0, 0, 0},
		"too long":      {byte(Stdin), 0xff, 0, 0, 0},
		"short header":  {byte(Stdin), 0},
		"short payload": {byte(Stdin), 0, 0, 0, 4, 'a'},
		"kind zero":     {0, 0, 0, 0, 0},
	} {
		c := New(pipe{bytes.NewReader(raw), io.Discard}, nil)
		if _, _, err := c.ReadFrame(); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: %v, want ErrFrame", name, err)
		}
	}
}

// An upgraded HTTP request carries frames both ways.
func TestUpgradeOverHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer c.Close()
		var in []byte
		for {
			k, p, err := c.ReadFrame()
			if err != nil {
				t.Errorf("server read: %v", err)
				return
			}
			if k == StdinClose {
				break
			}
			in = append(in, p...)
		}
		c.Writer(Stdout).Write(bytes.ToUpper(in))
		c.WriteJSON(Exit, ExitStatus{Code: len(in)})
	}))
	defer srv.Close()

	// Without the header: a plain error answer.
	resp, err := http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Upgrade: "+Protocol) {
		t.Fatalf("no upgrade header: %s %q", resp.Status, body)
	}
	if _, err := FromResponse(resp); err == nil {
		t.Fatal("FromResponse accepted a 400")
	}

	req, _ := http.NewRequest("POST", srv.URL, nil)
	SetUpgrade(req)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Writer(Stdin).Write([]byte("hello "))
	c.Writer(Stdin).Write([]byte("world"))
	c.WriteFrame(StdinClose, nil)
	var out []byte
	for {
		k, p, err := c.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if k == Exit {
			if string(p) != `{"code":11}` {
				t.Fatalf("exit %s", p)
			}
			break
		}
		out = append(out, p...)
	}
	if string(out) != "HELLO WORLD" {
		t.Fatalf("out %q", out)
	}
}
