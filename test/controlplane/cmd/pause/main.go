// Command pause is the pod sandbox's process, like registry.k8s.io/pause: it
// sleeps, reaps children when it is the pod's init, and exits 0 on SIGINT or
// SIGTERM. Pure Go with no cgo-using imports, so the binary is static.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
