# K8sPSPVolumeTypes: every volume's type (its source field: hostPath, emptyDir, ...)
# must be one of `parameters.volumes` (`*` allows all).
# Parameters: volumes.
package caisson.gatekeeper.k8spspvolumetypes

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"volume": data.caisson.gatekeeper.lib.name_of(v), "type": type}} if {
	not lib.is_update
	not "*" in allowed_types
	some v in lib.spec.volumes
	is_object(v)
	some type, _ in v
	type != "name"
	not type in allowed_types
	msg := sprintf("The volume type %v of volume %v is not allowed, pod: %v. Allowed volume types: %v", [type, data.caisson.gatekeeper.lib.name_of(v), lib.pod_name, allowed_types])
}

allowed_types := t if {
	t := input.parameters.volumes
	is_array(t)
} else := []
