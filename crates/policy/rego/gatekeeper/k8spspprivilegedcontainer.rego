# K8sPSPPrivilegedContainer: no container may set securityContext.privileged.
# Parameters: exemptImages.
package caisson.gatekeeper.k8spspprivilegedcontainer

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"container": name, "field": "securityContext.privileged"}} if {
	some c in lib.checked_containers
	c.securityContext.privileged == true
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("Privileged container is not allowed: %v, securityContext: %v", [name, c.securityContext])
}
