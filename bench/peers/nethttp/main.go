// The Go net/http peer for bench/run-peers.sh: the same three routes as bench/server/fasthttp, standard library
// only, one P (GOMAXPROCS=1). Built offline:
//
//	GO111MODULE=off go build -o nethttp-hello .
//
//	GET /plaintext  -> 200 "Hello, World!"               text/plain
//	GET /json       -> 200 {"message":"Hello, World!"}   application/json, json.Marshal per request
//	GET /user/:id   -> 200 "user <id>"                   text/plain, taken by hand from the path (Go 1.19's
//	                                                      ServeMux has no path parameters)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"runtime"
	"strings"
)

type message struct {
	Message string `json:"message"`
}

var hello = []byte("Hello, World!")

func main() {
	port := flag.Int("port", 8080, "port")
	host := flag.String("host", "127.0.0.1", "address")
	flag.Parse()
	runtime.GOMAXPROCS(1)

	mux := http.NewServeMux()
	mux.HandleFunc("/plaintext", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(hello)
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		b, err := json.Marshal(message{Message: "Hello, World!"})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	mux.HandleFunc("/user/", func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/user/")
		if id == "" || strings.IndexByte(id, '/') >= 0 {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("user " + id))
	})

	addr := fmt.Sprintf("%s:%d", *host, *port)
	fmt.Printf("listening on %s GOMAXPROCS=%d %s net/http\n", addr, runtime.GOMAXPROCS(0), runtime.Version())
	log.Fatal(http.ListenAndServe(addr, mux))
}
