# K8sPSPSELinuxV2: the pod's and each container's securityContext.seLinuxOptions must
# match one entry of `parameters.allowedSELinuxOptions`: every option the pod sets
# (level, role, type, user) must equal that entry's. Unset options are allowed.
# Parameters: allowedSELinuxOptions ([{level, role, type, user}]), exemptImages.
package caisson.gatekeeper.k8spspselinuxv2

import data.caisson.gatekeeper.lib as lib

fields := ["level", "role", "type", "user"]

violation contains {"msg": msg, "details": {"field": "spec.securityContext.seLinuxOptions", "seLinuxOptions": opts}} if {
	not lib.is_update
	opts := lib.spec.securityContext.seLinuxOptions
	not allowed(opts)
	msg := sprintf("SELinux options %v of pod %v are not allowed. Allowed options: %v", [opts, lib.pod_name, allowed_options])
}

violation contains {"msg": msg, "details": {"container": name, "field": "securityContext.seLinuxOptions", "seLinuxOptions": opts}} if {
	some c in lib.checked_containers
	opts := c.securityContext.seLinuxOptions
	not allowed(opts)
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("SELinux options %v of container %v are not allowed. Allowed options: %v", [opts, name, allowed_options])
}

allowed_options := a if {
	a := input.parameters.allowedSELinuxOptions
	is_array(a)
} else := []

allowed(opts) if {
	is_object(opts)
	some entry in allowed_options
	every f in fields {
		field_ok(opts, entry, f)
	}
}

field_ok(opts, _, f) if not has_value(opts, f)

field_ok(opts, entry, f) if {
	has_value(opts, f)
	opts[f] == entry[f]
}

has_value(opts, f) if {
	v := opts[f]
	not v in {null, ""}
}
