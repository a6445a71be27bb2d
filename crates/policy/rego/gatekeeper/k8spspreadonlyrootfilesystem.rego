# K8sPSPReadOnlyRootFilesystem: every container must set
# securityContext.readOnlyRootFilesystem to true.
# Parameters: exemptImages.
package caisson.gatekeeper.k8spspreadonlyrootfilesystem

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"container": name, "field": "securityContext.readOnlyRootFilesystem"}} if {
	some c in lib.checked_containers
	not c.securityContext.readOnlyRootFilesystem == true
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("only read-only root filesystem container is allowed: %v", [name])
}
