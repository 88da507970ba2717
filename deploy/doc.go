// Package deploy holds no code: its tests check the deployment files of the
// repository without a Docker engine or a Kubernetes cluster.
//
//   - deploy/redis/redis.conf and users.acl start a real redis-server; the
//     sessiond ACL user runs every library operation and nothing more, the
//     operator user runs sessionctl's, the default user is off.
//   - deploy/make-secrets.sh makes credentials that Redis accepts.
//   - Every manifest under k8s/ decodes strictly into the Kubernetes API
//     types, renders with kustomize, and passes the Pod Security Admission
//     "restricted" checks; probes, ports, selectors and network policies
//     agree with each other.
//   - docker-compose.yml loads with the Compose specification loader, and
//     the Dockerfile parses and ends as a non-root user.
//
// Run them with go test ./deploy (redis-server must be installed; see
// internal/redistest).
package deploy
