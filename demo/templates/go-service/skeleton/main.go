// Command ${{ values.name }} is a service created from the Acme Pay Go service template.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = ":8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from ${{ values.name }}")
	})
	log.Printf("${{ values.name }} listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
