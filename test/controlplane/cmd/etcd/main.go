// Command etcd is the upstream etcd server, at the version k8s.io/kubernetes
// itself is tested against, so the harness does not depend on the distro's etcd.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
