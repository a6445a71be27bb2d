# K8sPSPHostProcess: no Windows HostProcess container: a container's
# securityContext.windowsOptions.hostProcess (or the pod's, which containers inherit)
# must not be true.
# Parameters: exemptImages.
package caisson.gatekeeper.k8spsphostprocess

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"container": name, "field": source}} if {
	some c in lib.checked_containers
	hp := host_process(c)
	hp[0] == true
	source := hp[1]
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("HostProcess container is not allowed: %v (%v is true)", [name, source])
}

host_process(c) := [v, "securityContext.windowsOptions.hostProcess"] if {
	v := c.securityContext.windowsOptions.hostProcess
	is_boolean(v)
} else := [v, "spec.securityContext.windowsOptions.hostProcess"] if {
	v := lib.spec.securityContext.windowsOptions.hostProcess
	is_boolean(v)
} else := [false, ""]
