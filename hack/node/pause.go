// pause holds a pod's namespaces: containerd runs it as the pod sandbox's only process,
// as Kubernetes' own pause image (build/pause/linux/pause.c) does. It sleeps until SIGINT
// or SIGTERM and reaps the orphans it inherits as PID 1 of a pod sharing its PID namespace.
// Built static (no libc) for an image FROM scratch: pause.Dockerfile, hack/node-images.sh.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 16)
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
