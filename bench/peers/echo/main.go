// The Echo peer for bench/run-peers.sh: the same three routes as bench/server/fasthttp, written the way an Echo
// user would (echo.New() without middleware), one P (GOMAXPROCS=1). Built offline against Debian's Echo 4, whose
// sources sit at github.com/labstack/echo without the /v4 suffix, so the build uses a GOPATH overlay (see
// bench/server/run.sh, build_go):
//
//	GOPATH=<overlay>:/usr/share/gocode GO111MODULE=off go build -o echo-hello .
//
//	GET /plaintext  -> 200 "Hello, World!"               c.String (text/plain; charset=UTF-8)
//	GET /json       -> 200 {"message":"Hello, World!"}   c.JSON of a struct, encoding/json per request
//	                                                      (Echo's encoder ends the body with a newline)
//	GET /user/:id   -> 200 "user <id>"                   c.Param from Echo's router
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"runtime"

	"github.com/labstack/echo/v4"
)

type message struct {
	Message string `json:"message"`
}

func main() {
	port := flag.Int("port", 8080, "port")
	host := flag.String("host", "127.0.0.1", "address")
	flag.Parse()
	runtime.GOMAXPROCS(1)

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.GET("/plaintext", func(c echo.Context) error {
		return c.String(http.StatusOK, "Hello, World!")
	})
	e.GET("/json", func(c echo.Context) error {
		return c.JSON(http.StatusOK, message{Message: "Hello, World!"})
	})
	e.GET("/user/:id", func(c echo.Context) error {
		return c.String(http.StatusOK, "user "+c.Param("id"))
	})

	addr := fmt.Sprintf("%s:%d", *host, *port)
	fmt.Printf("listening on %s GOMAXPROCS=%d %s echo %s\n", addr, runtime.GOMAXPROCS(0), runtime.Version(), echo.Version)
	log.Fatal(e.Start(addr))
}
