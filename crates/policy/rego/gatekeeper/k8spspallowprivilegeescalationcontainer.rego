# K8sPSPAllowPrivilegeEscalationContainer: every container must set
# securityContext.allowPrivilegeEscalation to false (Kubernetes defaults it to true).
# Parameters: exemptImages.
package caisson.gatekeeper.k8spspallowprivilegeescalationcontainer

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"container": name, "field": "securityContext.allowPrivilegeEscalation"}} if {
	some c in lib.checked_containers
	not c.securityContext.allowPrivilegeEscalation == false
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("Privilege escalation container is not allowed: %v (securityContext.allowPrivilegeEscalation must be false)", [name])
}
