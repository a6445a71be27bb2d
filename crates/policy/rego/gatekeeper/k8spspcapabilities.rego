# K8sPSPCapabilities: a container may add only `parameters.allowedCapabilities`
# (`*` allows any; none when unset) and must drop every one of
# `parameters.requiredDropCapabilities` (dropping `ALL` drops them all).
# Capability names compare case-insensitively and without a `CAP_` prefix.
# Parameters: allowedCapabilities, requiredDropCapabilities, exemptImages.
package caisson.gatekeeper.k8spspcapabilities

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"container": name, "capability": cap, "field": "securityContext.capabilities.add"}} if {
	some c in lib.checked_containers
	not "*" in allowed_capabilities
	some cap in c.securityContext.capabilities.add
	not norm(cap) in allowed_set
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("container <%v> has a disallowed capability %v in securityContext.capabilities.add. Allowed capabilities are %v", [name, cap, allowed_capabilities])
}

violation contains {"msg": msg, "details": {"container": name, "missing": missing, "field": "securityContext.capabilities.drop"}} if {
	some c in lib.checked_containers
	dropped := {norm(d) | some d in c.securityContext.capabilities.drop}
	not "ALL" in dropped
	missing := [r | some r in required_drop; not norm(r) in dropped]
	count(missing) > 0
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("container <%v> is not dropping all required capabilities in securityContext.capabilities.drop. Container must drop all of %v or \"ALL\"; missing %v", [name, required_drop, missing])
}

allowed_capabilities := a if {
	a := input.parameters.allowedCapabilities
	is_array(a)
} else := []

required_drop := r if {
	r := input.parameters.requiredDropCapabilities
	is_array(r)
} else := []

allowed_set := {norm(a) | some a in allowed_capabilities}

norm(cap) := trim_prefix(upper(cap), "CAP_") if is_string(cap)

norm(cap) := sprintf("%v", [cap]) if not is_string(cap)
