// Command hostpath-provisioner gives a single-node test cluster dynamic volumes: for
// each PersistentVolumeClaim of a StorageClass whose provisioner is --name, it makes
// a folder under --dir (mode 0777, so a pod running as any uid can write, as on a
// fresh disk with fsGroup) and a hostPath PersistentVolume bound to that claim; when
// such a volume is released and its reclaim policy is Delete, it removes the folder
// and the volume. That is what kind's local-path provisioner does for kind, in one
// small process built with the rest of the node.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

const provisionedBy = "pv.kubernetes.io/provisioned-by"

type provisioner struct {
	name    string
	dir     string
	client  kubernetes.Interface
	claims  func() ([]*corev1.PersistentVolumeClaim, error)
	volumes func() ([]*corev1.PersistentVolume, error)
	classes func(name string) (*storagev1.StorageClass, error)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	dir := flag.String("dir", "", "folder that holds the volumes")
	name := flag.String("name", "kaos-memory.local/hostpath", "provisioner name in StorageClasses")
	flag.Parse()
	if *kubeconfig == "" || *dir == "" {
		log.Fatal("hostpath-provisioner: --kubeconfig and --dir are required")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatalf("hostpath-provisioner: %v", err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("hostpath-provisioner: %v", err)
	}
	client := kubernetes.NewForConfigOrDie(config)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	factory := informers.NewSharedInformerFactory(client, 30*time.Second)
	pvcs := factory.Core().V1().PersistentVolumeClaims()
	pvs := factory.Core().V1().PersistentVolumes()
	scs := factory.Storage().V1().StorageClasses()
	wake := make(chan struct{}, 1)
	poke := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { nudge(wake) },
		UpdateFunc: func(any, any) { nudge(wake) },
		DeleteFunc: func(any) { nudge(wake) },
	}
	for _, inf := range []cache.SharedIndexInformer{pvcs.Informer(), pvs.Informer(), scs.Informer()} {
		if _, err := inf.AddEventHandler(poke); err != nil {
			log.Fatalf("hostpath-provisioner: %v", err)
		}
	}
	p := &provisioner{
		name:    *name,
		dir:     *dir,
		client:  client,
		claims:  func() ([]*corev1.PersistentVolumeClaim, error) { return pvcs.Lister().List(labels.Everything()) },
		volumes: func() ([]*corev1.PersistentVolume, error) { return pvs.Lister().List(labels.Everything()) },
		classes: scs.Lister().Get,
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	log.Printf("hostpath-provisioner: %s provisioning under %s", p.name, p.dir)

	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		p.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
		}
	}
}

func nudge(wake chan struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

func (p *provisioner) reconcile(ctx context.Context) {
	claims, err := p.claims()
	if err != nil {
		log.Printf("hostpath-provisioner: list claims: %v", err)
		return
	}
	for _, pvc := range claims {
		if err := p.provision(ctx, pvc); err != nil {
			log.Printf("hostpath-provisioner: %s/%s: %v", pvc.Namespace, pvc.Name, err)
		}
	}
	volumes, err := p.volumes()
	if err != nil {
		log.Printf("hostpath-provisioner: list volumes: %v", err)
		return
	}
	for _, pv := range volumes {
		if err := p.reclaim(ctx, pv); err != nil {
			log.Printf("hostpath-provisioner: %s: %v", pv.Name, err)
		}
	}
}

func (p *provisioner) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if pvc.Spec.VolumeName != "" || pvc.Status.Phase != corev1.ClaimPending || pvc.DeletionTimestamp != nil {
		return nil
	}
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName == "" {
		return nil
	}
	class, err := p.classes(*pvc.Spec.StorageClassName)
	if err != nil || class.Provisioner != p.name {
		return nil //nolint:nilerr // not ours, or the class is not there yet
	}
	if class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer &&
		pvc.Annotations["volume.kubernetes.io/selected-node"] == "" {
		return nil
	}
	name := "pvc-" + string(pvc.UID)
	path := filepath.Join(p.dir, name)
	if err := os.MkdirAll(path, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o777); err != nil { // the umask narrowed MkdirAll's mode
		return err
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	dirType := corev1.HostPathDirectory
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{provisionedBy: p.name},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			VolumeMode:                    pvc.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind:       "PersistentVolumeClaim",
				APIVersion: "v1",
				Namespace:  pvc.Namespace,
				Name:       pvc.Name,
				UID:        pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &dirType},
			},
		},
	}
	_, err = p.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err == nil {
		log.Printf("hostpath-provisioner: %s for %s/%s at %s", name, pvc.Namespace, pvc.Name, path)
	}
	return err
}

func (p *provisioner) reclaim(ctx context.Context, pv *corev1.PersistentVolume) error {
	if pv.Annotations[provisionedBy] != p.name || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		return nil
	}
	if pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed {
		return nil
	}
	if pv.Spec.HostPath != nil {
		path := filepath.Clean(pv.Spec.HostPath.Path)
		if !strings.HasPrefix(path, filepath.Clean(p.dir)+string(filepath.Separator)) {
			return nil // never delete outside our folder
		}
		if err := os.RemoveAll(path); err != nil {
			return err
		}
	}
	err := p.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		log.Printf("hostpath-provisioner: deleted %s", pv.Name)
	}
	return err
}
