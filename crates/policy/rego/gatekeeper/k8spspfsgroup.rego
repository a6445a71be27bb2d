# K8sPSPFSGroup: the pod's securityContext.fsGroup under `parameters.rule`:
# MustRunAs (set, and inside one of `parameters.ranges`), MayRunAs (inside a range
# when set) or RunAsAny / no rule (anything).
# Parameters: rule, ranges ([{min, max}]).
package caisson.gatekeeper.k8spspfsgroup

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"field": "spec.securityContext.fsGroup", "rule": "MustRunAs"}} if {
	not lib.is_update
	input.parameters.rule == "MustRunAs"
	not has_fsgroup
	msg := sprintf("The pod %v must set securityContext.fsGroup (rule MustRunAs, ranges %v)", [lib.pod_name, ranges])
}

violation contains {"msg": msg, "details": {"field": "spec.securityContext.fsGroup", "rule": rule, "fsGroup": fsgroup}} if {
	not lib.is_update
	rule := input.parameters.rule
	rule in {"MustRunAs", "MayRunAs"}
	has_fsgroup
	fsgroup := lib.spec.securityContext.fsGroup
	not data.caisson.gatekeeper.lib.in_ranges(fsgroup, ranges)
	msg := sprintf("The provided pod spec fsGroup %v is not allowed, pod: %v. Allowed fsGroup (rule %v): %v", [fsgroup, lib.pod_name, rule, ranges])
}

has_fsgroup if {
	g := lib.spec.securityContext.fsGroup
	not is_null(g)
}

ranges := r if {
	r := input.parameters.ranges
	is_array(r)
} else := []
