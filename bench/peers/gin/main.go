// The Gin peer for bench/run-peers.sh: the same three routes as bench/server/fasthttp, written the way a Gin
// user would (gin.New() without the logger and recovery middleware, release mode), one P (GOMAXPROCS=1).
// Built offline against Debian's Gin:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o gin-hello .
//
//	GET /plaintext  -> 200 "Hello, World!"               c.String (text/plain; charset=utf-8)
//	GET /json       -> 200 {"message":"Hello, World!"}   c.JSON of a struct, encoding/json per request
//	GET /user/:id   -> 200 "user <id>"                   c.Param from Gin's radix-tree router
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"runtime"

	"github.com/gin-gonic/gin"
)

type message struct {
	Message string `json:"message"`
}

func main() {
	port := flag.Int("port", 8080, "port")
	host := flag.String("host", "127.0.0.1", "address")
	flag.Parse()
	runtime.GOMAXPROCS(1)
	gin.SetMode(gin.ReleaseMode)

	r := gin.New()
	r.GET("/plaintext", func(c *gin.Context) {
		c.String(http.StatusOK, "Hello, World!")
	})
	r.GET("/json", func(c *gin.Context) {
		c.JSON(http.StatusOK, message{Message: "Hello, World!"})
	})
	r.GET("/user/:id", func(c *gin.Context) {
		c.String(http.StatusOK, "user "+c.Param("id"))
	})

	addr := fmt.Sprintf("%s:%d", *host, *port)
	fmt.Printf("listening on %s GOMAXPROCS=%d %s gin %s\n", addr, runtime.GOMAXPROCS(0), runtime.Version(), gin.Version)
	log.Fatal(r.Run(addr))
}
