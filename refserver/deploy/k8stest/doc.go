// Package k8stest validates the Kubernetes manifests and the compose files
// of refserver/deploy. It is a module of its own so that the Kubernetes
// libraries stay out of the library's and the server's go.mod; it holds
// tests only.
package k8stest
