// The fasthttp peer for bench/server/run.sh: the same three routes as the Shockwave example, one P
// (GOMAXPROCS=1, set here and by run.sh). Built offline from Debian's packages:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o ../build/fasthttp-hello .
//
//	GET /plaintext  -> 200 "Hello, World!"               text/plain
//	GET /json       -> 200 {"message":"Hello, World!"}   application/json, json.Marshal per request
//	GET /user/:id   -> 200 "user <id>"                   text/plain, taken by hand from the path
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"runtime"

	"github.com/valyala/fasthttp"
)

type message struct {
	Message string `json:"message"`
}

var userPrefix = []byte("/user/")

func handler(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	switch string(path) { // no allocation: the compiler compares in place
	case "/plaintext":
		ctx.SetContentType("text/plain")
		ctx.SetBodyString("Hello, World!")
		return
	case "/json":
		b, err := json.Marshal(message{Message: "Hello, World!"})
		if err != nil {
			ctx.Error(err.Error(), fasthttp.StatusInternalServerError)
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
		return
	}
	if bytes.HasPrefix(path, userPrefix) {
		id := path[len(userPrefix):]
		if len(id) > 0 && bytes.IndexByte(id, '/') < 0 {
			ctx.SetContentType("text/plain")
			ctx.WriteString("user ")
			ctx.Write(id)
			return
		}
	}
	ctx.Error("not found", fasthttp.StatusNotFound)
}

func main() {
	port := flag.Int("port", 8080, "port")
	host := flag.String("host", "127.0.0.1", "address")
	flag.Parse()
	runtime.GOMAXPROCS(1)
	s := &fasthttp.Server{Handler: handler, Name: "fasthttp"}
	addr := fmt.Sprintf("%s:%d", *host, *port)
	fmt.Printf("listening on %s GOMAXPROCS=%d %s\n", addr, runtime.GOMAXPROCS(0), runtime.Version())
	log.Fatal(s.ListenAndServe(addr))
}
