# K8sPSPProcMount: a container's securityContext.procMount (unset or null means
# `Default`) must be allowed by `parameters.procMount`: `Default` allows only Default,
# `Unmasked` allows Default and Unmasked (case-insensitive).
# Parameters: procMount, exemptImages.
package caisson.gatekeeper.k8spspprocmount

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"container": name, "procMount": pm, "field": "securityContext.procMount"}} if {
	some c in lib.checked_containers
	pm := proc_mount(c)
	not lower(pm) in {lower(a) | some a in allowed}
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("ProcMount type %v is not allowed, container: %v. Allowed procMount types: %v", [pm, name, allowed])
}

proc_mount(c) := pm if {
	pm := c.securityContext.procMount
	is_string(pm)
} else := "Default"

allowed := ["Default", "Unmasked"] if {
	lower(input.parameters.procMount) == "unmasked"
} else := ["Default"]
