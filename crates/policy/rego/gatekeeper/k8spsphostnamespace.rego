# K8sPSPHostNamespace: the pod must not share the host's PID or IPC namespace
# (spec.hostPID, spec.hostIPC).
package caisson.gatekeeper.k8spsphostnamespace

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"field": concat("", ["spec.", field])}} if {
	not lib.is_update
	some field in ["hostPID", "hostIPC"]
	lib.spec[field] == true
	msg := sprintf("Sharing the host namespace is not allowed: %v (spec.%v is true)", [lib.pod_name, field])
}
