// Package deploy holds Pulse's Kubernetes manifests (a kustomize base, the
// staging and production overlays, and the monitoring ConfigMaps: alert
// rules, Grafana dashboard, prometheus-adapter rules). It has no code; its
// test renders every kustomization and validates the objects against the
// Kubernetes API schema offline. See README.md in this directory.
package deploy
