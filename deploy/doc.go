// Package deploy holds no code: its tests check the deployment files
// beside them (Kubernetes manifests decoded strictly into the Kubernetes
// API types, the compose file, the systemd unit). It is a module of its
// own so that the gatehouse module does not depend on k8s.io.
package deploy
